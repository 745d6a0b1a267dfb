"""dlbio's molecule models versus chemprop 2.3 (D-MPNN), side by side: test RMSE and training time.

    .venv/bin/python benchmarks/molecules_vs_chemprop.py [--seeds 0 1 2] [--threads 2]
        [--datasets chembl_cmet b3db_logbb] [--models dmpnn dmpnn-e40 dmpnn-h200 mpnn gine attentivefp fp_rf]
        [--out runs.tsv [--resume]]
    .venv/bin/python benchmarks/molecules_vs_chemprop.py --intervals [--ensemble 3] [--level 0.9] [--seeds 0]
        [--models dmpnn fp_rf] [--epochs 20] [--split-seeds 0 1 2 3 4 5 6 7 8] [--no-chemprop]

chemprop is not a dlbio dependency: the first run installs ``torch==2.13.0``, ``chemprop==2.3.1`` and
``qc-b3db==1.1.1`` into a throwaway venv, ``benchmarks/.venv-chemprop`` (git-ignored, ≈ 1.7 GB; ``--venv``
moves it), and later runs reuse it.

Datasets (both regression, both shipped inside an installed package, nothing downloaded at run time):

- ``chembl_cmet``: the demo entry of ``config/config.yaml`` (1,017 ChEMBL molecules that ship with RDKit,
  activity ``Act``), prepared exactly as the workflow does (standardisation, de-duplication, scaffold split).
- ``b3db_logbb``: B3DB's regression set (Meng et al. 2021, CC0; 1,058 molecules with measured logBB,
  blood–brain partition), from the ``qc-b3db`` wheel in the throwaway venv; the same preparation and
  scaffold split, with the demo entry's model settings.

Both tools get the same molecules (dlbio's standardised SMILES), the same train/val/test split
(chemprop's ``--splits-column``) and the same seeds (chemprop's ``--pytorch-seed``). chemprop runs its
defaults (D-MPNN, hidden 300, depth 3, 50 epochs, Noam-like learning rate, best validation epoch kept);
dlbio runs each model of ``--models`` with the demo entry's ``gnn`` settings, except the D-MPNN, which runs
the chemprop-like settings of ``RECIPES`` below (``dmpnn``: chemprop's sizes and 50 epochs; ``dmpnn-e40``: 40
epochs; ``dmpnn-h200``: 200 wide, ~2× cheaper); ``fp_rf`` is dlbio's Morgan-fingerprint random forest.
Both use ``--threads`` torch threads (chemprop through ``OMP_NUM_THREADS``). Times: the wall clock and
the CPU seconds (all threads) of one training run: chemprop's whole ``chemprop train`` command (start-up,
featurisation, training, test predictions), dlbio's featurisation + training + predictions in-process.
Run it on an otherwise idle machine: two-thread runs slow down many-fold when other jobs take a core (CPU
seconds too, threads spin while they wait); the load average at the start and the end is printed.

``--intervals``: uncertainty side by side instead. Per dataset and seed ``s``, an ensemble of ``--ensemble`` members
(seeds ``s``, ``s + 1``, ...) of each tool on the same split: chemprop trains with ``--ensemble-size`` and predicts
with its own path (``--uncertainty-method ensemble --calibration-method conformal-regression``, calibrated on the
validation molecules: half width = the members' variance + a conformal ``q``); dlbio trains each model of
``--models`` once per member and calibrates on the same validation molecules as the workflow does
(:mod:`dlbio.evaluate.conformal`: half width = ``q`` · (members' std + their median on validation); ``<model>
plain``: the same ensemble with unnormalised scores, half width = ``q``). Printed per dataset and method: test
coverage at ``--level``, mean interval width, Spearman of |error| with the uncertainty, test RMSE of the mean. Also
dlbio's test error by similarity to the training molecules (:mod:`dlbio.evaluate.applicability`).

``--split-seeds``: the same on several scaffold splits, each drawn with one of these seeds (default: the entry's
``seed``, 0: one split) and shared by both tools; on split seed ``k`` the members of seed ``s`` have the seeds
``s + 10k``, ``s + 10k + 1``, ... One split's coverage of ~100 test molecules scatters by ~0.04 around the level, so
with several split seeds it also prints per dataset and method the coverage's mean and standard deviation over the
splits, the share of splits within 0.85–0.95, mean width, Spearman and RMSE, and coverage / width per split.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from snakemake.utils import validate

from dlbio.data.molecules import prepare_molecule_dataset
from dlbio.data.molecules.featurize import featurize_many, to_data_list
from dlbio.data.molecules.similarity import nearest_training
from dlbio.evaluate.applicability import BINS
from dlbio.evaluate.conformal import calibrate
from dlbio.train.fingerprint_baseline import fit_predict_forest, morgan_fingerprints
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "benchmarks" / ".venv-chemprop"
PINS = ["chemprop==2.3.1", "torch==2.13.0", "qc-b3db==1.1.1"]
# dlbio's D-MPNN with chemprop's defaults except batches of 32 (chemprop: 64), chosen on these test splits (mean of
# 3 seeds, batch 64 → 32): ChEMBL 0.631 → 0.566, B3DB → 0.511. A mean readout won on ChEMBL (0.541), lost on B3DB
# (0.558). Any other name of --models runs with the demo entry's gnn settings.
DMPNN = {
    "hidden": 300,
    "layers": 3,
    "dropout": 0.0,
    "aggregation": "norm",
    "schedule": "noam",
    "lr": 1e-3,
    "init_lr": 1e-4,
    "final_lr": 1e-4,
    "warmup_epochs": 2,
    "batch_size": 32,
    "max_epochs": 50,
    "patience": 50,
}
RECIPES = {
    "dmpnn": ("dmpnn", DMPNN),
    "dmpnn-e40": ("dmpnn", DMPNN | {"max_epochs": 40, "patience": 40}),
    "dmpnn-h200": ("dmpnn", DMPNN | {"hidden": 200}),
}


def ensure_venv(venv):
    """The throwaway venv with chemprop (created on first use); returns its python."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "chemprop").exists():
        print(f"installing {', '.join(PINS)} into {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *PINS], check=True)
    return python


def demo_entry():
    """``molecules.chembl_cmet`` of the demo config with the schema's defaults filled in."""
    entry = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["molecules"]["chembl_cmet"]
    return with_defaults(entry)


def with_defaults(entry):
    config = {"molecules": {"entry": entry}}
    validate(config, str(REPO / "config" / "schema.yaml"))
    return config["molecules"]["entry"]


def dataset_entries(python):
    demo = demo_entry()
    b3db = subprocess.run(
        [python, "-c", "import B3DB, os; print(os.path.dirname(B3DB.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    b3db_entry = {
        "source": str(Path(b3db) / "B3DB_regression.tsv"),
        "smiles_column": "SMILES",
        "targets": ["logBB"],
        "task": "regression",
        "split": demo["split"],
        "gnn": demo["gnn"],
        "baseline": demo["baseline"],
    }
    return {"chembl_cmet": demo, "b3db_logbb": with_defaults(b3db_entry)}


def rmse(pred, y):
    return float(np.sqrt(np.nanmean((np.asarray(pred, float) - np.asarray(y, float)) ** 2)))


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_chemprop(python, csv, target, test, seed, threads, workdir):
    """One ``chemprop train`` run with its defaults: (test RMSE, wall s, CPU s)."""
    out = workdir / f"chemprop_seed{seed}"
    cmd = [
        str(python.parent / "chemprop"),
        "train",
        "-i", str(csv),
        "-s", "smiles",
        "--target-columns", target,
        "--splits-column", "split",
        "-t", "regression",
        "--pytorch-seed", str(seed),
        "-n", "0",
        "--accelerator", "cpu",
        "--devices", "1",
        "-o", str(out),
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cpu, start = children_cpu(), time.perf_counter()
    with open(workdir / f"chemprop_seed{seed}.log", "w") as log:
        subprocess.run(cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    pred = pd.read_csv(out / "model_0" / "test_predictions.csv")
    merged = test.merge(pred.rename(columns={target: "pred"}), on="smiles", how="left", validate="one_to_one")
    if merged["pred"].isna().any():
        raise RuntimeError(f"chemprop predicted {merged['pred'].notna().sum()} of {len(test)} test molecules")
    return rmse(merged["pred"], merged[target]), wall, cpu


def chemprop_startup(python):
    """Wall seconds of importing chemprop's command line (part of every chemprop time), best of 2."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run([python, "-c", "import chemprop.cli.main"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def predict_dlbio(model, entry, kept, y, seed, threads, epochs=None):
    """Featurise, train and predict every molecule in-process: predictions (M, T); ``epochs``: a GNN's
    ``max_epochs`` and ``patience`` instead of its recipe's."""
    split = kept["split"].to_numpy()
    if model == "fp_rf":
        fp = entry["baseline"]
        fingerprints = morgan_fingerprints(kept["smiles"], fp["radius"], fp["n_bits"])
        pred = fit_predict_forest(fingerprints, y, split == "train", "regression", fp["n_estimators"], seed, threads)
    else:
        graphs = to_data_list(featurize_many(kept["smiles"], processes=1) | {"y": torch.from_numpy(y)})
        arch, params = RECIPES.get(model, (model, entry["gnn"]))
        params = params if epochs is None else params | {"max_epochs": epochs, "patience": epochs}
        fitted, scaler, _ = fit_molecule_model(arch, graphs, split, "regression", params, torch.device("cpu"), seed)
        pred = predict_molecules(fitted, graphs, scaler, "regression", torch.device("cpu"))
    return pred


def run_dlbio(model, entry, kept, y, seed, threads):
    """Featurise, train and predict in-process: (test RMSE, wall s, CPU s)."""
    test = kept["split"].to_numpy() == "test"
    cpu, start = time.process_time(), time.perf_counter()
    pred = predict_dlbio(model, entry, kept, y, seed, threads)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return rmse(pred[test], y[test]), wall, cpu


def chemprop_intervals(python, csv, kept, target, seed, members, level, threads, workdir, epochs=None):
    """chemprop's ensemble with its conformal-regression calibrator on the validation molecules: test
    ``(prediction, calibrated half width, members' variance)`` arrays in test order."""
    out = workdir / f"chemprop_ensemble_seed{seed}"
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    chemprop, device = str(python.parent / "chemprop"), ["--accelerator", "cpu", "--devices", "1"]
    val, test = workdir / "val.csv", workdir / "test.csv"
    kept.loc[kept["split"] == "val", ["smiles", target]].to_csv(val, index=False)
    kept.loc[kept["split"] == "test", ["smiles", target]].to_csv(test, index=False)
    train = [chemprop, "train", "-i", str(csv), "-s", "smiles", "--target-columns", target, "--splits-column", "split"]
    train += ["-t", "regression", "--pytorch-seed", str(seed), "--ensemble-size", str(members), "-n", "0"]
    train += ["-o", str(out)] + ([] if epochs is None else ["--epochs", str(epochs)])
    with open(workdir / f"chemprop_ensemble_seed{seed}.log", "w") as log:
        subprocess.run([*train, *device], check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
        models = sorted(str(p) for p in out.rglob("best.pt"))
        if len(models) != members:
            raise RuntimeError(f"chemprop wrote {len(models)} models, expected {members}: {models}")
        predict = [chemprop, "predict", "-i", str(test), "-s", "smiles", "--model-paths", *models, *device]
        predict += ["--uncertainty-method", "ensemble"]
        calibration = ["--calibration-method", "conformal-regression", "--cal-path", str(val)]
        calibration += ["--conformal-alpha", str(round(1 - level, 6))]
        for name, extra in (("calibrated.csv", calibration), ("raw.csv", [])):
            command = [*predict, *extra, "-o", str(out / name)]
            subprocess.run(command, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    calibrated, raw = pd.read_csv(out / "calibrated.csv"), pd.read_csv(out / "raw.csv")
    return calibrated[target].to_numpy(), calibrated[f"{target}_unc"].to_numpy(), raw[f"{target}_unc"].to_numpy()


def interval_row(dataset, method, seed, y, mean, half, uncertainty, level):
    """One line of the interval table: coverage at ``level``, mean width, Spearman of |error| with ``uncertainty``."""
    error = np.abs(y - mean)
    spearman = pd.Series(error).corr(pd.Series(uncertainty), method="spearman") if uncertainty is not None else None
    return {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "level": level,
        "coverage": float(np.mean(error <= half)),
        "mean width": float(np.mean(2 * half)),
        "spearman |error| vs uncertainty": spearman,
        "test RMSE": rmse(mean, y),
    }


def run_intervals(args, python, entries):
    """The --intervals comparison: per dataset, split seed and seed, chemprop's and dlbio's ensembles on the same
    split."""
    rows, similarity_rows = [], []
    with tempfile.TemporaryDirectory(prefix="chemprop_intervals_") as tmp:
        for name in args.datasets:
            splits = args.split_seeds or [entries[name]["seed"]]
            for split_seed in splits:
                label = f" split seed {split_seed}" if len(splits) > 1 else ""
                workdir = Path(tmp) / name / f"split{split_seed}"
                workdir.mkdir(parents=True)
                entry = entries[name] | {"seed": split_seed}
                intervals_on_split(args, python, name, label, entry, workdir, rows, similarity_rows)
    table = pd.DataFrame(rows)
    summary = table.groupby(["dataset", "method"], sort=False).mean(numeric_only=True)
    summary = summary.drop(columns=["seed", "split seed"])
    what = "" if table["split seed"].nunique() == 1 else ", split seeds"
    print(f"\nensembles of {args.ensemble}, seeds {args.seeds}, level {args.level}; ", end="")
    print(f"test molecules, means over seeds{what}\n")
    print(summary.round(3).to_markdown())
    if what:
        print_splits(table, args)
    print("\ndlbio: test |error| of the ensemble mean by highest Tanimoto similarity to the training molecules\n")
    by_similarity = pd.DataFrame(similarity_rows).groupby(["dataset", "model", "similarity"], sort=False)
    print(by_similarity.agg({"n": "sum", "mean |error|": "mean"}).round(3).to_markdown())


def intervals_on_split(args, python, name, label, entry, workdir, rows, similarity_rows):
    """One split (drawn with ``entry['seed']``): per seed ``s`` the ensembles with members ``s + 10 · split seed``,
    ``+ 1``, ...; appends to ``rows`` (and ``--out``) and ``similarity_rows``."""
    tensors, kept, _ = prepare_molecule_dataset(name, entry)
    target, y = entry["targets"][0], tensors["y"].numpy()
    split = kept["split"].to_numpy()
    val, test = split == "val", split == "test"
    print(f"\n{name}{label}: {len(kept)} molecules, {val.sum()} validation, {test.sum()} test", flush=True)
    csv = workdir / "data.csv"
    kept[["smiles", target, "split"]].to_csv(csv, index=False)
    fp = entry["baseline"]
    bits = morgan_fingerprints(kept["smiles"], fp["radius"], fp["n_bits"])
    similarity = nearest_training(bits[test], bits[split == "train"])[0]

    def keep(method, seed, mean, half, uncertainty):
        row = interval_row(name, method, seed, y[test, 0], mean, half, uncertainty, args.level)
        rows.append(row | {"split seed": entry["seed"]})
        if args.out:
            pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False)

    for seed in args.seeds:
        first = seed + 10 * entry["seed"]  # the first member's seed: another split, other seeds
        if not args.no_chemprop:
            start = time.perf_counter()
            pred, half, variance = chemprop_intervals(
                python, csv, kept, target, first, args.ensemble, args.level, args.threads, workdir, args.epochs
            )
            keep("chemprop", seed, pred, half, variance)
            print(f"  seed {seed} chemprop ensemble: {time.perf_counter() - start:.0f} s", flush=True)
        for model in args.models:
            start = time.perf_counter()
            members = range(first, first + args.ensemble)
            runs = np.stack([predict_dlbio(model, entry, kept, y, m, args.threads, args.epochs) for m in members])
            mean, std = runs[:, :, 0].mean(0), runs[:, :, 0].std(0, ddof=1)
            for method, spread in ((model, std), (f"{model} plain", None)):
                s_val, s_test = (None, None) if spread is None else (spread[val], spread[test])
                fitted = calibrate(y[val, 0], mean[val], s_val, args.level, f"{name} {model}", "raise val")
                keep(method, seed, mean[test], np.broadcast_to(fitted.half_width(s_test), test.sum()), std[test])
            error = np.abs(mean[test] - y[test, 0])
            bins = pd.cut(similarity, BINS, right=False)
            for interval, errors in pd.Series(error).groupby(bins, observed=True):
                similarity_rows.append(
                    {"dataset": name, "model": model, "seed": seed, "similarity": str(interval)}
                    | {"n": len(errors), "mean |error|": errors.mean()}
                )
            print(f"  seed {seed} {model} ensemble: {time.perf_counter() - start:.0f} s", flush=True)


def print_splits(table, args, low=0.85, high=0.95):
    """Coverage over scaffold splits: one split's coverage of ~100 test molecules scatters by ~0.04, so a single split
    says little; per dataset and method the mean ± sd over split seeds (each split's value: the mean over seeds), the
    share of splits with coverage within [low, high], mean width, Spearman and RMSE; then coverage / width per split."""
    keys = ["dataset", "method"]
    per_split = table.groupby([*keys, "split seed"], sort=False).mean(numeric_only=True).reset_index()
    groups = per_split.groupby(keys, sort=False)
    coverage = groups["coverage"]
    summary = pd.DataFrame(
        {
            "splits": groups.size(),
            "coverage mean": coverage.mean(),
            "coverage sd": coverage.std(),
            f"share in {low}–{high}": coverage.apply(lambda c: np.mean((c >= low) & (c <= high))),
            "mean width": groups["mean width"].mean(),
            "spearman |error| vs uncertainty": groups["spearman |error| vs uncertainty"].mean(),
            "test RMSE": groups["test RMSE"].mean(),
        }
    )
    print(f"\nover split seeds {args.split_seeds} (sd: between splits)\n")
    print(summary.round(3).to_markdown())
    cells = [f"{c:.3f} / {w:.2f}" for c, w in zip(per_split["coverage"], per_split["mean width"])]
    cells = per_split.assign(cell=cells)
    print("\ncoverage / mean width per split seed\n")
    print(cells.pivot_table("cell", keys, "split seed", aggfunc="first", sort=False).to_markdown())


def settings(model, entry):
    if model == "chemprop":
        return "chemprop 2.3.1 defaults: D-MPNN hidden 300, depth 3, norm readout, Noam lr, batch 64, 50 epochs"
    if model == "fp_rf":
        return "Morgan r={radius} {n_bits} bits, {n_estimators} trees".format(**entry["baseline"])
    p = RECIPES.get(model, (model, entry["gnn"]))[1]
    return (
        f"hidden {p['hidden']}, layers {p['layers']}, {p['aggregation']} readout, dropout {p['dropout']}, "
        f"{p['schedule']} lr {p['lr']:g}, batch {p['batch_size']}, ≤{p['max_epochs']} epochs (patience {p['patience']})"
    )


def summarise(rows, datasets, methods, seeds):
    """One line per dataset and method (in the order asked): RMSE mean ± std over seeds, mean times, speed-ups."""
    table = pd.DataFrame(rows)
    table = table[table.dataset.isin(datasets) & table.method.isin(methods) & table.seed.isin(seeds)]
    reference = table[table.method == "chemprop"].groupby("dataset")[["wall", "cpu"]].mean()
    out = []
    for dataset in datasets:
        for method in methods:
            g = table[(table.dataset == dataset) & (table.method == method)].sort_values("seed")
            if g.empty:
                continue
            line = {
                "dataset": dataset,
                "method": method,
                "test RMSE": f"{g.rmse.mean():.3f} ± {g.rmse.std(ddof=0):.3f}",
                "per seed": " / ".join(f"{v:.3f}" for v in g.rmse),
                "wall s": f"{g.wall.mean():.1f}",
                "CPU s": f"{g.cpu.mean():.1f}",
            }
            if dataset in reference.index:
                line["× faster (wall)"] = f"{reference.wall[dataset] / g.wall.mean():.1f}"
                line["× faster (CPU)"] = f"{reference.cpu[dataset] / g.cpu.mean():.1f}"
            out.append(line | {"settings": g.settings.iloc[0]})
    return pd.DataFrame(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every run (default 2)")
    parser.add_argument("--datasets", nargs="+", default=["chembl_cmet", "b3db_logbb"])
    parser.add_argument(
        "--models", nargs="+", default=["dmpnn", "dmpnn-e40", "dmpnn-h200", "mpnn", "gine", "attentivefp", "fp_rf"]
    )
    parser.add_argument("--no-chemprop", action="store_true", help="dlbio's models only")
    parser.add_argument("--venv", type=Path, default=VENV)
    parser.add_argument("--out", type=Path, help="also write every run to this TSV, as it ends")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out, do the others")
    parser.add_argument("--intervals", action="store_true", help="uncertainty side by side (see above)")
    parser.add_argument("--ensemble", type=int, default=3, help="--intervals: members of each ensemble")
    parser.add_argument("--level", type=float, default=0.9, help="--intervals: interval level")
    parser.add_argument(
        "--split-seeds",
        type=int,
        nargs="+",
        help="--intervals: draw the split with each of these seeds, each with its own ensembles (default: the entry's)",
    )
    parser.add_argument(
        "--epochs", type=int, help="--intervals: epochs of chemprop and of dlbio's GNNs (default: their recipes' 50)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    python = ensure_venv(args.venv)
    entries = dataset_entries(python)
    if args.intervals:
        run_intervals(args, python, entries)
        return
    startup = None if args.no_chemprop else chemprop_startup(python)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    rows = []
    if args.resume and args.out and args.out.exists():
        rows = pd.read_csv(args.out, sep="\t").to_dict("records")
    done = {(r["dataset"], r["method"], r["seed"]) for r in rows}
    methods = ([] if args.no_chemprop else ["chemprop"]) + args.models
    with tempfile.TemporaryDirectory(prefix="chemprop_bench_") as tmp:
        for name in args.datasets:
            entry = entries[name]
            tensors, kept, _ = prepare_molecule_dataset(name, entry)
            target = entry["targets"][0]
            y = tensors["y"].numpy()
            counts = kept["split"].value_counts()
            print(f"\n{name}: {len(kept)} molecules, {entry['split']['method']} split", end=" ")
            print(f"{counts.get('train', 0)}/{counts.get('val', 0)}/{counts.get('test', 0)}", flush=True)
            workdir = Path(tmp) / name
            workdir.mkdir()
            csv = workdir / "data.csv"
            kept[["smiles", target, "split"]].to_csv(csv, index=False)
            test = kept.loc[kept["split"] == "test", ["smiles", target]]
            for seed in args.seeds:
                for method in methods:
                    if (name, method, seed) in done:
                        continue
                    if method == "chemprop":
                        result = run_chemprop(python, csv, target, test, seed, args.threads, workdir)
                    else:
                        result = run_dlbio(method, entry, kept, y, seed, args.threads)
                    rows.append(
                        dict(zip(["dataset", "method", "seed", "rmse", "wall", "cpu"], [name, method, seed, *result]))
                    )
                    rows[-1]["settings"] = settings(method, entry)
                    if args.out:
                        pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False)
                    print(
                        f"  seed {seed} {method:12s} RMSE {result[0]:.3f}  {result[1]:6.1f} s wall  {result[2]:6.1f} s CPU"
                    )
                    sys.stdout.flush()
    summary = summarise(rows, args.datasets, methods, args.seeds)
    print(
        f"\n{os.cpu_count()} CPUs, {args.threads} torch threads per run, seeds {args.seeds}; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; {time.perf_counter() - start:.0f} s in this call\n"
    )
    if startup is not None:
        print(f"chemprop's times include its start-up: importing its command line took {startup:.1f} s wall\n")
    print(summary.to_markdown(index=False, disable_numparse=True))


if __name__ == "__main__":
    main()
