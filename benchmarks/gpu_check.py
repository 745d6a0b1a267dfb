"""Check every training path on CUDA, beside the same figures on the machine's CPU, without Snakemake.

What runs (library functions fed with generated or shipped data; sizes are flags):

- every GAN architecture × algorithm at BioGANs' width 64 and batch 64, fp32 and bf16 autocast;
- checkpoint → SIGKILL → resume of a star-shaped run per algorithm, in a child process on the device,
  deterministic mode: the resumed generator must equal the uninterrupted one exactly;
- the GAN evaluation (tile classifier, FID/KID/PRDC, mode coverage, cell lengths, per-class C2ST);
- the cell GNNs (GCN through the sparse CSR path, SAGE, GAT) on a 100k-node graph, and the molecule
  models on a few thousand molecules (RDKit's ChEMBL set, repeated);
- the exact kNN graph of 1M cells (benchmarks/knn_graph.py's 50-D mixture) by brute force on the device,
  its recall against scikit-learn's exact search on 1,000 sampled cells (scanpy's ``pp.neighbors`` takes
  96 s at recall 0.75 on 2 CPU cores: README "Atlas scale");
- the same small runs on CPU and on the device, compared at stated tolerances;
- a table: GAN iterations/s, GNN epochs/s, molecules/s and peak GPU memory, each beside the same
  figure on the CPU of the same machine, and their ratio.

It exits 1 if any check fails. On a CUDA machine with PyTorch ≥ 2.11 and torch-geometric,
scikit-learn, scipy, pandas, pyyaml, tqdm, matplotlib, Pillow, tifffile and torchmetrics already
installed (as on the lent H100/H200 image), bring two wheels (32 MiB), from the repository root:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 -d .whl rdkit==2026.9.1 prdc==0.2

and run there, from the repository root (no network needed; about 5 minutes on one H100):

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=src:/tmp/site python3 benchmarks/gpu_check.py --out gpu_check

On a machine without a GPU, ``--device cpu --tiny`` runs every path at toy sizes (tests/test_gpu_check.py).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from torch_geometric.data import Data

from dlbio.data.cells import brute_force_neighbours, knn_recall
from dlbio.data.molecules import featurize_many, read_molecule_table, split_molecules, to_data_list
from dlbio.data.simulate_lin import simulate_lin
from dlbio.data.tiles import build_tile_store, list_images, training_tiles
from dlbio.evaluate.domain_metrics import domain_metrics
from dlbio.evaluate.gan_evaluation import GANEvaluation
from dlbio.models.registry import CELL_GNNS, GAN_ARCHS, MOLECULE_MODELS
from dlbio.train.adversarial import ALGORITHMS
from dlbio.train.gan import GANTrainer
from dlbio.train.cell_gnn import fit_node_classifier, predict_nodes
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules
from dlbio.train.tile_classifier import fit_tile_store_classifier
from knn_graph import make_cells

REPO = Path(__file__).resolve().parents[1]
SIZE, SEED = (48, 80), 0
SIZES = {  # full: one H100-class GPU; tiny: the CPU test
    "full": {
        "per_class": 200, "iterations": 200, "cpu_iterations": 1, "width": 64, "batch": 64,
        "algorithms": tuple(ALGORITHMS), "resume": 40, "eval_width": 16, "c2st_iterations": 200,
        "nodes": 100_000, "gnn_epochs": 50, "cpu_gnn_epochs": 3, "compare_nodes": 5_000, "knn_cells": 1_000_000,
        "molecules": None, "copies": 3, "mol_hidden": None, "mol_epochs": 10, "cpu_mol_epochs": 1,
    },
    "tiny": {
        "per_class": 40, "iterations": 4, "cpu_iterations": 1, "width": 4, "batch": 4,
        "algorithms": ("wgan-gp",), "resume": 6, "eval_width": 4, "c2st_iterations": 4,
        "nodes": 600, "gnn_epochs": 2, "cpu_gnn_epochs": 1, "compare_nodes": 300, "knn_cells": 2_000,
        "molecules": 120, "copies": 1, "mol_hidden": 8, "mol_epochs": 1, "cpu_mol_epochs": 1,
    },
}
TOLERANCE = {  # CPU vs device on the same small run (TF32 convolutions on CUDA by default)
    "gan first losses": 0.05,  # |Δ| / (1 + |loss|) over the first 5 iterations
    "domain metrics": 1e-3,  # |Δ| / (1 + |value|), same classifier weights and tiles
    "tile accuracy": 0.05,  # absolute, test accuracy of the classifier trained on each device
    "cell accuracy": 0.03,  # absolute, test accuracy of each cell GNN trained on each device
    "molecule rmse": 0.05,  # relative, test RMSE of each molecule model trained on each device
}


SECTIONS = ("gan", "compare", "resume", "evaluation", "cells", "knn", "molecules")


class Report:
    """Checks (pass/fail with a detail) and figures (per device) collected over the run."""

    def __init__(self):
        self.checks, self.figures = [], {}

    def check(self, name, ok, detail):
        self.checks.append({"check": name, "result": "pass" if ok else "FAIL", "detail": detail})
        print(f"[{'pass' if ok else 'FAIL'}] {name}: {detail}", flush=True)

    def figure(self, name, device, value):
        self.figures.setdefault(name, {})[device.type] = value


def schema_defaults(*path):
    """The schema's defaults of ``config/schema.yaml`` at ``path`` (entry sections of keyed datasets)."""
    node = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    for key in path:
        node = node["properties"][key]
        if "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
            node = node["additionalProperties"]

    def walk(props):
        return {k: walk(v["properties"]) if "properties" in v else v.get("default") for k, v in props.items()}

    return walk(node["properties"])


def runs(device, epochs, cpu_epochs):
    """(device, epochs) to time: the device under test, then the CPU unless that is the device."""
    return [(device, epochs)] + ([(torch.device("cpu"), cpu_epochs)] if device.type != "cpu" else [])


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


@contextmanager
def timed(device, out):
    """Wall seconds of the block (device work finished) into ``out[0]``."""
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    out.append(time.perf_counter() - start)


@contextmanager
def peak_memory(report, name, device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    yield
    if device.type == "cuda":
        report.figure(f"peak GPU memory, {name} (GiB)", device, torch.cuda.max_memory_allocated() / 2**30)


# ---------------------------------------------------------------- GANs


def gan_run(arch, algorithm, s, iterations, bf16=False, **extra):
    return schema_defaults("gan") | {
        "name": f"{arch}-{algorithm}", "dataset": "sim", "classes": None, "arch": arch, "algorithm": algorithm,
        "width": s["width"], "nz": 100, "seed": SEED, "batch_size": s["batch"], "iterations": iterations,
        "checkpoint_every": iterations, "grid_rows": 4, "max_snapshots": 1, "bf16": bf16,
        "critic_warmup": ALGORITHMS["wgan"]["n_critic"],  # steady-state iterations only (BioGANs: 100 steps)
    } | extra


def train_gan(run, tiles, device, folder):
    images, labels, classes = tiles
    trainer = GANTrainer(run, images, labels, len(classes), device, folder)
    seconds = []
    with timed(device, seconds):
        losses = trainer.train()
    return trainer, losses, seconds[0]


def check_gans(report, tiles, device, s, tmp):
    """Every arch × algorithm × precision on ``device``; the same fp32 runs for a few iterations on the CPU."""
    trained = {}
    precisions = [False, True] if device.type == "cuda" else [False]
    for arch in GAN_ARCHS:
        for algorithm in ALGORITHMS:
            for bf16 in precisions:
                name = f"{arch} {algorithm} {'bf16' if bf16 else 'fp32'}"
                with peak_memory(report, f"GAN {name}", device):
                    run = gan_run(arch, algorithm, s, s["iterations"], bf16)
                    trainer, losses, sec = train_gan(run, tiles, device, tmp / "gan" / name.replace(" ", "_"))
                finite = np.isfinite(losses[["critic_loss", "generator_loss"]].to_numpy()).all()
                report.check(f"GAN {name} trains on {device.type}", finite, f"{len(losses)} iterations, {sec:.1f} s")
                report.figure(f"GAN {name} iterations/s", device, len(losses) / sec)
                if not bf16:
                    trained[arch, algorithm] = trainer
            cpu = torch.device("cpu")
            if device.type != "cpu":
                run = gan_run(arch, algorithm, s, s["cpu_iterations"])
                _, losses, sec = train_gan(run, tiles, cpu, tmp / "gan_cpu" / f"{arch}_{algorithm}")
                report.figure(f"GAN {arch} {algorithm} fp32 iterations/s", cpu, len(losses) / sec)
    return trained


def compare_gan_losses(report, tiles, device, s, tmp):
    """First five iterations of one run on CPU and on ``device`` (same initial weights, noise and batches)."""
    run = gan_run("dcgan", "gan", s | {"width": 16}, 5)
    losses = [train_gan(run, tiles, d, tmp / f"compare_{d.type}")[1] for d in (torch.device("cpu"), device)]
    a, b = (x[["critic_loss", "generator_loss"]].to_numpy() for x in losses)
    worst = float(np.max(np.abs(a - b) / (1 + np.abs(a))))
    tol = TOLERANCE["gan first losses"]
    report.check("GAN losses CPU vs device", worst <= tol, f"max |Δ|/(1+|loss|) {worst:.2e} (tolerance {tol})")


RESUME_CHILD = "--resume-child"


def resume_child(algorithm, device, size_name, data_root, folder):
    """Child process: a deterministic star-shaped run that checkpoints every iteration; writes final.pt."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    s = SIZES[size_name]
    tiles = gan_tiles(Path(data_root), s)
    run = gan_run("dcgan-starshaped", algorithm, s, s["resume"], checkpoint_every=1)
    trainer, _, _ = train_gan(run, tiles, torch.device(device), folder)
    torch.save(trainer.generator.state_dict(), Path(folder) / "final.pt")


def check_resume(report, device, s, size_name, tmp):
    """Straight run vs a run killed after its first checkpoints and resumed, per algorithm (``s['algorithms']``),
    in child processes."""
    for algorithm in s["algorithms"]:
        folders = {kind: tmp / "resume" / algorithm / kind for kind in ("straight", "killed")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        cmd = [sys.executable, __file__, RESUME_CHILD, algorithm, device.type, size_name, tmp / "data"]
        subprocess.run([*cmd, folders["straight"]], check=True)
        child = subprocess.Popen([*cmd, folders["killed"]])
        checkpoint = folders["killed"] / "last.pt"
        while child.poll() is None and not (checkpoint.exists() and iteration_of(checkpoint) >= s["resume"] // 2):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        reached = iteration_of(checkpoint)
        subprocess.run([*cmd, folders["killed"]], check=True)
        a, b = (torch.load(f / "final.pt", weights_only=True) for f in folders.values())
        diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
        report.check(
            f"GAN {algorithm} killed at iteration {reached} and resumed on {device.type}",
            diff == 0 and reached < s["resume"],
            f"max |Δ weight| vs uninterrupted run {diff:.1e} (must be 0)",
        )


def iteration_of(checkpoint):
    for _ in range(20):  # the checkpoint is renamed into place atomically; a read can race the next rename
        try:
            return int(torch.load(checkpoint, weights_only=True)["iteration"])
        except (OSError, RuntimeError, EOFError):
            time.sleep(0.05)
    raise RuntimeError(f"cannot read {checkpoint}")


def gan_tiles(root, s):
    """Simulated LIN-like cells → tile store (kept in ``root``): (training tiles, labels, classes), store."""
    store_path = root / "store.npz"
    if not store_path.exists():
        simulate_lin(root / "sim", s["per_class"], SIZE, SEED)
        store, _ = build_tile_store(list_images(root / "sim", None), [0, 1], SIZE, "crop", "dtype", 0.25, SEED)
        np.savez(store_path, **{k: np.asarray(v) for k, v in store.items()})
    return training_tiles(dict(np.load(store_path, allow_pickle=False)))


# ---------------------------------------------------------------- evaluation


def check_evaluation(report, trainer, store, device, s, tmp):
    """Tile classifier, domain metrics (also on the CPU, same weights), and the full per-class evaluation."""
    params = schema_defaults("evaluation")
    params["classifier"] |= {"epochs": 10, "width": s["eval_width"]}
    params |= {"n_generated": 6 * (s["per_class"] // 4 - 2), "nearest_k": 3, "kid_subset_size": 50}
    params["c2st"] |= {"iterations": s["c2st_iterations"], "width": s["eval_width"], "repeats": 2}
    test = store["split"] == "test"
    accuracies = {}
    for d in dict.fromkeys([torch.device("cpu"), device]):  # the device's classifier last: it is evaluated
        classifier, proba = fit_tile_store_classifier(store, params["classifier"], d, params["seed"])
        accuracies[d.type] = float((proba[test].argmax(1) == store["labels"][test]).mean())
    tol = TOLERANCE["tile accuracy"]
    gap = abs(accuracies["cpu"] - accuracies[device.type])
    report.check("tile classifier CPU vs device", gap <= tol, f"test accuracy {accuracies} (tolerance {tol})")
    path = tmp / "generator.pt"
    torch.save(trainer.generator.state_dict(), path)
    run = trainer.run | {"classes": list(store["classes"])}
    evaluation = GANEvaluation(run, store, classifier, params, device, tmp / "data" / "sim")
    seconds = []
    with peak_memory(report, "evaluation", device), timed(device, seconds):
        summary, table, fake, _ = evaluation.evaluate(path, [])
    verdict = summary["c2st_verdict"]
    ok = np.isfinite(summary["fid"]) and isinstance(verdict, str)
    report.check(f"GAN evaluation on {device.type}", ok, f"FID {summary['fid']:.3f}, C2ST {verdict}, {seconds[0]:.1f} s")
    kid = {k: params[k] for k in ("nearest_k", "kid_subsets", "kid_subset_size", "seed")}
    scores = [domain_metrics(classifier.to(d), evaluation.real, fake, d, **kid) for d in (torch.device("cpu"), device)]
    worst = max(abs(scores[0][k] - scores[1][k]) / (1 + abs(scores[0][k])) for k in scores[0])
    tol = TOLERANCE["domain metrics"]
    report.check("FID/KID/PRDC CPU vs device", worst <= tol, f"max |Δ|/(1+|value|) {worst:.1e} (tolerance {tol})")


# ---------------------------------------------------------------- cell GNNs


def cell_graph(n, seed, k=15, classes=10, dims=50):
    """Clustered points and a graph of ``k`` random neighbours per node, 90 % inside its class: like a kNN graph."""
    rng = np.random.default_rng(seed)
    y = rng.integers(classes, size=n)
    centers = rng.normal(size=(classes, dims))
    x = (centers[y] + 2.5 * rng.normal(size=(n, dims))).astype(np.float32)
    members = [np.flatnonzero(y == c) for c in range(classes)]
    src = np.repeat(np.arange(n), k)
    same = rng.random(n * k) < 0.9
    dst = rng.integers(n, size=n * k)
    for c in range(classes):
        pick = same & (y[src] == c)
        dst[pick] = members[c][rng.integers(len(members[c]), size=pick.sum())]
    edges = np.unique(np.concatenate([np.stack([src, dst]), np.stack([dst, src])], 1), axis=1)
    edges = edges[:, edges[0] != edges[1]]
    split = rng.choice(3, size=n, p=[0.6, 0.2, 0.2])
    return Data(
        x=torch.from_numpy(x), y=torch.from_numpy(y), edge_index=torch.from_numpy(edges),
        edge_weight=torch.from_numpy(rng.uniform(0.1, 1, edges.shape[1]).astype(np.float32)),
        train_mask=torch.from_numpy(split == 0), val_mask=torch.from_numpy(split == 1),
        test_mask=torch.from_numpy(split == 2), num_nodes=n,
    )


def cell_params(epochs):
    return schema_defaults("cells", "gnn") | {"heads": 4, "max_epochs": epochs, "patience": epochs}


def test_accuracy(model, data, device):
    proba, _ = predict_nodes(model, data, device)
    return float((proba[data.test_mask.numpy()].argmax(1) == data.y[data.test_mask].numpy()).mean())


def check_cell_gnns(report, device, s):
    data = cell_graph(s["nodes"], SEED)
    print(f"cell graph: {data.num_nodes} nodes, {data.num_edges} directed edges", flush=True)
    small = cell_graph(s["compare_nodes"], SEED + 1)
    for arch in CELL_GNNS:
        for d, epochs in runs(device, s["gnn_epochs"], s["cpu_gnn_epochs"]):
            seconds = []
            with peak_memory(report, f"{arch} {data.num_nodes} nodes", d), timed(d, seconds):
                model, history = fit_node_classifier(arch, data, cell_params(epochs), d, SEED)
            report.figure(f"cell {arch} ({data.num_nodes} nodes) epochs/s", d, len(history) / seconds[0])
            if d == device:
                acc = test_accuracy(model, data, d)
                report.check(f"cell {arch} trains on {d.type}", acc > 0.2, f"test accuracy {acc:.3f} (chance 0.1)")
        acc = [
            test_accuracy(fit_node_classifier(arch, small, cell_params(s["gnn_epochs"]), d, SEED)[0], small, d)
            for d in (torch.device("cpu"), device)
        ]
        tol = TOLERANCE["cell accuracy"]
        report.check(f"cell {arch} CPU vs device", abs(acc[0] - acc[1]) <= tol, f"test accuracy {acc} (tolerance {tol})")


def check_knn(report, device, s):
    x, _ = make_cells(s["knn_cells"])
    seconds = []
    with peak_memory(report, f"exact kNN {len(x)} cells", device), timed(device, seconds):
        indices, _ = brute_force_neighbours(x, 15, "euclidean", device)
    recall = knn_recall(x, indices, 15, "euclidean", threads=torch.get_num_threads())
    report.figure(f"exact kNN graph ({len(x)} cells) seconds", device, seconds[0])
    detail = f"recall {recall:.4f} against scikit-learn on 1,000 cells, {seconds[0]:.1f} s"
    report.check(f"exact kNN on {device.type}", recall >= 0.999, detail)


# ---------------------------------------------------------------- molecules


def molecule_graphs(copies, limit):
    """RDKit's ChEMBL set (1,017 molecules, pIC50-like ``Act``; the first ``limit``) repeated ``copies`` times,
    split by scaffold."""
    table = read_molecule_table("rdkit:CHEMBL2321810", None, ["Act"], None)[:limit]
    table = pd.concat([table] * copies, ignore_index=True)
    smiles = table["input_smiles"]
    graphs = to_data_list(featurize_many(smiles) | {"y": torch.tensor(table[["Act"]].to_numpy(np.float32))})
    split = split_molecules(smiles, table[["Act"]].to_numpy(), "scaffold", 0.1, 0.1, SEED)
    return graphs, np.asarray(split), table[["Act"]].to_numpy(np.float32)


def rmse(model, scaler, graphs, y, split, device):
    pred = predict_molecules(model, graphs, scaler, "regression", device)
    test = split == "test"
    return float(np.sqrt(np.mean((pred[test] - y[test]) ** 2)))


def molecule_params(s, epochs):
    params = schema_defaults("molecules", "gnn") | {"max_epochs": epochs, "patience": epochs}
    return params | ({"hidden": s["mol_hidden"]} if s["mol_hidden"] else {})


def check_molecules(report, device, s):
    graphs, split, y = molecule_graphs(s["copies"], s["molecules"])
    n_train = int((split == "train").sum())
    print(f"molecules: {len(graphs)} ({n_train} training)", flush=True)
    for arch in MOLECULE_MODELS:
        results = {}
        for d, epochs in runs(device, s["mol_epochs"], s["cpu_mol_epochs"]):
            seconds = []
            with peak_memory(report, f"molecules {arch}", d), timed(d, seconds):
                model, scaler, history = fit_molecule_model(
                    arch, graphs, split, "regression", molecule_params(s, epochs), d, SEED
                )
            report.figure(f"molecules {arch} molecules/s (training)", d, len(history) * n_train / seconds[0])
            results[f"{d.type}, {epochs} epochs"] = round(rmse(model, scaler, graphs, y, split, d), 4)
        ok = all(np.isfinite(v) for v in results.values())
        report.check(f"molecules {arch} trains on {device.type}", ok, f"test RMSE {results}")
        same = [rmse(*fit(arch, graphs, split, d, molecule_params(s, s["cpu_mol_epochs"])), graphs, y, split, d)
                for d in (torch.device("cpu"), device)]
        tol = TOLERANCE["molecule rmse"]
        gap = abs(same[0] - same[1]) / same[0]
        report.check(f"molecules {arch} CPU vs device", gap <= tol, f"test RMSE {same} (relative tolerance {tol})")


def fit(arch, graphs, split, device, params):
    model, scaler, _ = fit_molecule_model(arch, graphs, split, "regression", params, device, SEED)
    return model, scaler


# ---------------------------------------------------------------- main


def figures_table(report, device):
    rows = []
    for name, values in report.figures.items():
        cpu, dev = values.get("cpu"), values.get(device.type)
        ratio = dev / cpu if cpu and dev and "memory" not in name else None
        rows.append({"figure": name, "cpu": cpu, device.type: dev, f"{device.type} / cpu": ratio})
    return pd.DataFrame(rows)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="device under test (default cuda); cpu for a dry run")
    p.add_argument("--tiny", action="store_true", help="toy sizes (the CPU test)")
    p.add_argument("--out", type=Path, help="folder for checks.tsv and figures.tsv")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS, help="evaluation needs gan")
    return p.parse_args()


def main():
    args = parse_args()
    device, size_name = torch.device(args.device), "tiny" if args.tiny else "full"
    s = SIZES[size_name]
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --device cpu --tiny for the dry run")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}; sizes {size_name}")
    report, start = Report(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        tmp = Path(tmp)
        tiles = gan_tiles(tmp / "data", s)
        store = dict(np.load(tmp / "data" / "store.npz", allow_pickle=False))
        trained = {}
        sections = {
            "gan": lambda: trained.update(check_gans(report, tiles, device, s, tmp)),
            "compare": lambda: compare_gan_losses(report, tiles, device, s, tmp),
            "resume": lambda: check_resume(report, device, s, size_name, tmp),
            "evaluation": lambda: check_evaluation(report, trained["dcgan-starshaped", "gan"], store, device, s, tmp),
            "cells": lambda: check_cell_gnns(report, device, s),
            "knn": lambda: check_knn(report, device, s),
            "molecules": lambda: check_molecules(report, device, s),
        }
        for section in args.sections:
            began = time.perf_counter()
            try:  # a failing section is reported and the others still run
                sections[section]()
            except Exception as err:  # noqa: BLE001
                traceback.print_exc()
                report.check(f"section {section}", False, f"{type(err).__name__}: {err}")
            print(f"-- section {section}: {time.perf_counter() - began:.0f} s", flush=True)
    checks, figures = pd.DataFrame(report.checks), figures_table(report, device)
    print(f"\n{name}, {time.perf_counter() - start:.0f} s in all; figures on this machine's CPU and {device.type}:")
    print(figures.to_string(index=False, float_format="%.3g"))
    failed = checks[checks["result"] != "pass"]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed")
    if len(failed):
        print(failed.to_string(index=False))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        checks.to_csv(args.out / "checks.tsv", sep="\t", index=False)
        figures.to_csv(args.out / "figures.tsv", sep="\t", index=False)
    sys.exit(1 if len(failed) else 0)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == RESUME_CHILD:
        resume_child(*sys.argv[2:7])
    else:
        main()
