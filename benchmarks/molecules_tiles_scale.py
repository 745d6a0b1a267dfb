"""Molecules and tiles at scale: wall time and peak memory of three workflow steps on 100k items, beside the baseline.

Run from the repository root:

    .venv/bin/python benchmarks/molecules_tiles_scale.py [--molecules 100000] [--tiles 100000]
        [--intensity dtype [minmax]] [--threads 1] [--baseline 1b0c58b | --baseline none] [--workdir DIR]

Data, generated in ``--workdir`` (a temporary folder by default) and nothing downloaded:

- molecules: the 10,000 SMILES RDKit ships in ``Data/Pains/test_data/wehi_mols.csv``, each with one of ten
  substituents (``SUBSTITUENTS``) bonded to one of its hydrogen-bearing atoms, unique canonical SMILES until
  ``--molecules``; target: RDKit's Crippen logP; a CSV with columns ``smiles``, ``logp``;
- tiles: ``--tiles`` seeded noise tiles of 48 × 80 pixels as RGB PNGs with an empty blue channel (LIN's files),
  alternately in two class folders.

Steps, each in a fresh Python process, as the workflow's rules run them (``--threads``: the rules' 1), on the
schema's defaults:

- molecules prepare (``molecules_prepare``): read the CSV, RDKit standardisation and de-duplication, scaffold
  split, featurisation; write graphs.pt, molecules.tsv and rejected.tsv;
- GNN epoch (``molecules_train_gnn``): read graphs.pt and molecules.tsv, one epoch of ``gine`` (hidden 64,
  3 layers, batch 64) with its validation pass;
- tiles ingest (``images_prepare``, one row per ``--intensity``): the folder into tiles.npz (channels 0 and 1,
  crop), manifest.tsv and the class montage.

``s``: the step's wall clock inside its process (start-up and imports excluded); ``peak MB``: the process's
maximum resident set size (``resource.getrusage``; imports included, about 0.4-0.5 GB of torch, RDKit and
the rest; with ``--threads`` > 1 the featurisation pool's workers are not counted); ``file MB``: the step's
main output. Baseline: the same step code run on dlbio at commit ``--baseline`` (default 1b0c58b: every
molecule featurised at once into float32/int64 tensors, training from a list of PyG ``Data``, tiles decoded
into a list and then stacked), extracted from this repository with ``git archive``. ``÷``: baseline over
dlbio. ``same``: the outputs agree (molecule features, table and targets; the epoch's losses; the tiles).
The baseline's ``minmax`` ingest holds several float32 copies of all tiles: about 18 GB for 100k tiles.
"""

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"]
SUBSTITUENTS = ["C", "O", "N", "F", "Cl", "C#N", "C(=O)O", "OC", "C(F)(F)F", "CC"]
TILE_SIZE = (48, 80)


def defaults(spec):
    """The schema's defaults of an entry, nested entries included."""
    if "properties" in spec:
        return {key: defaults(sub) for key, sub in spec["properties"].items()}
    return spec.get("default")


# ---------------------------------------------------------------- data


def write_molecules(n, path):
    """``n`` unique molecules: RDKit's wehi SMILES with one substituent each; target Crippen logP."""
    from rdkit import Chem, RDConfig, RDLogger
    from rdkit.Chem import Crippen

    RDLogger.DisableLog("rdApp.*")
    wehi = pd.read_csv(os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv"), header=None)[0]
    bases = [m for m in map(Chem.MolFromSmiles, wehi) if m is not None]
    substituents = [Chem.MolFromSmiles(s) for s in SUBSTITUENTS]
    rows = {}
    for site in range(max(m.GetNumAtoms() for m in bases)):
        for base in bases:
            sites = [a.GetIdx() for a in base.GetAtoms() if a.GetTotalNumHs()]
            if site >= len(sites):
                continue
            for sub in substituents:
                mol = Chem.RWMol(Chem.CombineMols(base, sub))
                mol.AddBond(sites[site], base.GetNumAtoms(), Chem.BondType.SINGLE)
                if Chem.SanitizeMol(mol, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE:
                    rows.setdefault(Chem.MolToSmiles(mol), Crippen.MolLogP(mol))
                if len(rows) == n:
                    pd.DataFrame({"smiles": list(rows), "logp": list(rows.values())}).to_csv(path, index=False)
                    return
    raise SystemExit(f"only {len(rows)} molecules can be made; ask for fewer")


def write_tiles(n, folder):
    """``n`` noise tiles as RGB PNGs (blue empty) in class folders a/ and b/."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in "ab":
        (folder / label).mkdir(parents=True)
    for i in range(n):
        rgb = rng.integers(0, 256, (*TILE_SIZE, 3), dtype=np.uint8)
        rgb[..., 2] = 0
        Image.fromarray(rgb).save(folder / "ab"[i % 2] / f"{i:06d}.png", compress_level=1)


# ---------------------------------------------------------------- steps (run in a fresh process each)


def digest(*arrays):
    sha = hashlib.sha1()
    for a in arrays:
        sha.update(np.ascontiguousarray(a).tobytes())
    return sha.hexdigest()[:12]


def step_prepare(data, out, threads):
    from dlbio.data.molecules import prepare_molecule_dataset
    from dlbio.io import load_tensors, save_tensors

    entry = defaults(SCHEMA["molecules"]["additionalProperties"]) | {"source": str(data), "targets": ["logp"]}
    start = time.perf_counter()
    tensors, kept, rejected = prepare_molecule_dataset("scale", entry, threads)
    save_tensors(tensors, out / "graphs.pt")
    kept.to_csv(out / "molecules.tsv", sep="\t", index=False)
    rejected.to_csv(out / "rejected.tsv", sep="\t", index=False)
    seconds, peak = time.perf_counter() - start, peak_mb()
    del tensors
    t = load_tensors(out / "graphs.pt")
    same = digest(t["x"].byte(), t["edge_attr"].byte(), t["edge_index"].long(), t["y"], kept.to_numpy(str))
    return seconds, peak, out / "graphs.pt", same


def step_train(data, out, threads):
    import torch

    from dlbio.data.molecules import load_molecule_dataset
    from dlbio.train.molecule_gnn import fit_molecule_model

    torch.set_num_threads(threads)
    params = defaults(SCHEMA["molecules"]["additionalProperties"]["properties"]["gnn"]) | {
        "hidden": 64,
        "max_epochs": 1,
    }
    start = time.perf_counter()
    graphs, table, _ = load_molecule_dataset(out / "graphs.pt", out / "molecules.tsv", ["logp"])
    _, _, history = fit_molecule_model("gine", graphs, table["split"], "regression", params, torch.device("cpu"), 0)
    losses = history[["train_loss", "val_loss"]].to_numpy()
    return time.perf_counter() - start, peak_mb(), None, " / ".join(f"{v:.6f}" for v in losses[0])


def step_tiles(intensity):
    def run(data, out, threads):
        from dlbio.data.tiles import plot_class_montage, prepare_image_dataset, save_tile_store

        entry = defaults(SCHEMA["images"]["additionalProperties"]) | {"folder": str(data), "intensity": intensity}
        start = time.perf_counter()
        store, manifest = prepare_image_dataset("scale", entry)
        save_tile_store(store, out / "tiles.npz")
        manifest.to_csv(out / "manifest.tsv", sep="\t", index=False)
        plot_class_montage(store["images"], store["labels"], store["classes"], out / "montage.png")
        seconds, peak = time.perf_counter() - start, peak_mb()
        return seconds, peak, out / "tiles.npz", digest(store["images"], store["labels"], store["split"])

    return run


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def steps(intensities):
    """Step name → (function, data kind)."""
    found = {"molecules prepare": (step_prepare, "molecules"), "GNN epoch (gine, hidden 64)": (step_train, "molecules")}
    return found | {f"tiles ingest ({i})": (step_tiles(i), "tiles") for i in intensities}


def child(args):
    """Run one step in this process and print its measures as JSON."""
    function = steps(args.intensity)[args.step][0]
    seconds, peak, path, same = function(Path(args.data), Path(args.out), args.threads)
    size = path.stat().st_size / 2**20 if path else None
    print(json.dumps({"s": seconds, "peak MB": peak, "file MB": size, "same": same}))


# ---------------------------------------------------------------- driver


def extract_baseline(rev, folder):
    """The ``src/`` of dlbio at ``rev`` (git archive of this repository) under ``folder``; the path for PYTHONPATH."""
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(folder, filter="data")
    return str(folder / "src")


def run_step(step, data, out, src, args):
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--step", step, "--data", str(data), "--out", str(out)]
    command += ["--threads", str(args.threads), "--intensity", *args.intensity]
    env = os.environ | {"PYTHONPATH": src}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{step} ({src}) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--molecules", type=int, default=100_000, help="0: skip the molecule steps")
    parser.add_argument("--tiles", type=int, default=100_000, help="0: skip the tile steps")
    parser.add_argument("--intensity", nargs="+", default=["dtype"], choices=["dtype", "minmax", "image"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", default="1b0c58b", help="git revision of the baseline dlbio, or 'none'")
    parser.add_argument("--workdir", help="folder for data and outputs (default: a temporary one, removed)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        data = {"molecules": work / f"molecules_{args.molecules}.csv", "tiles": work / f"tiles_{args.tiles}"}
        if args.molecules and not data["molecules"].exists():
            print(f"writing {args.molecules} molecules to {data['molecules']} ...", flush=True)
            write_molecules(args.molecules, data["molecules"])
        if args.tiles and not data["tiles"].exists():
            print(f"writing {args.tiles} PNG tiles to {data['tiles']} ...", flush=True)
            write_tiles(args.tiles, data["tiles"])
        variants = {"dlbio": str(REPO / "src")}
        if args.baseline != "none":
            variants = {"baseline": extract_baseline(args.baseline, work / f"baseline_{args.baseline}")} | variants
        rows = []
        for step, (_, kind) in steps(args.intensity).items():
            if not (args.molecules if kind == "molecules" else args.tiles):
                continue
            row = {"step": step}
            for name, src in variants.items():
                print(f"{step}: {name} ...", flush=True)
                measured = run_step(step, data[kind], work / name / kind, src, args)
                row |= {f"{name} {key}": value for key, value in measured.items()}
            rows.append(row)
    table = pd.DataFrame(rows)
    keys = ("s", "peak MB", "file MB")
    if args.baseline != "none":
        for key in keys:
            table[f"÷ {key}"] = table[f"baseline {key}"] / table[f"dlbio {key}"]
        table["same"] = np.where(table["baseline same"] == table["dlbio same"], "yes", "NO")
        table = table[["step", *(f"{v} {k}" for k in keys for v in ("baseline", "dlbio", "÷")), "same"]]
    else:
        table = table[["step", "dlbio s", "dlbio peak MB", "dlbio file MB"]]
    print(
        f"\n{args.molecules} molecules, {args.tiles} tiles, {args.threads} thread(s); baseline dlbio {args.baseline}\n"
    )
    print(table.astype(object).where(table.notna(), None).to_markdown(index=False, floatfmt=".1f", missingval=""))


if __name__ == "__main__":
    main()
