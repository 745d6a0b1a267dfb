"""Library prediction speed: dlbio ``predict_library`` versus chemprop 2.3's ``chemprop predict``, side by side.

Run from the repository root:

    .venv/bin/python benchmarks/predict_molecules.py [--venv PATH] [--repeats 2] [--copies 1]

Input: the 10,000 SMILES RDKit ships in ``Data/Pains/test_data/wehi_mols.csv`` (``--copies`` repeats them),
written to a CSV with a ``smiles`` column. chemprop 2.3.1 beside torch 2.13.0 lives in a throwaway venv
outside the lock: ``--venv``, else ``$DLBIO_CHEMPROP_VENV``, else ``benchmarks/.venv-chemprop`` (git-ignored),
created with pip when absent (about 1.6 GB). Nothing is downloaded but those packages.

Models, trained untimed for one epoch on 500 of the molecules with a made-up target (RDKit's Crippen logP;
only speed is measured): chemprop's default D-MPNN (hidden 300, depth 3, FFN 300, ``norm`` readout) and
dlbio's ``dmpnn`` of the same size, plus dlbio's ``gine`` at the schema's default size (hidden 128, 3 layers).
Each tool runs as one command, timed from start-up to the written table (reading, featurising, predicting
and writing included); best of ``--repeats``. dlbio also standardises every molecule (largest fragment,
uncharge) and writes rejected rows; chemprop does neither. ``ratio``: molecules/s over chemprop's.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem import Crippen

from dlbio.apply.molecules import save_molecule_model
from dlbio.data.molecules import featurize_many, to_data_list
from dlbio.train.molecule_gnn import fit_molecule_model

REPO = Path(__file__).resolve().parents[1]
WEHI = os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv")
CHEMPROP = ["torch==2.13.0", "chemprop==2.3.1"]
STANDARDIZE = {"largest_fragment": True, "uncharge": True, "tautomer": False}
N_TRAIN = 500
DLBIO_PREDICT = """
import sys, torch
from dlbio.apply.molecules import load_molecule_model, predict_library
model, library, out, rejected = sys.argv[1:]
models = {"model": [load_molecule_model(model, torch.device("cpu"))]}
predict_library(library, "smiles", None, models, out, rejected)
"""


def chemprop_venv(path):
    """The venv's ``chemprop`` command, installing chemprop 2.3.1 (CPU torch) into a new venv at ``path`` if needed."""
    command = Path(path) / "bin" / "chemprop"
    if not command.exists():
        print(f"creating {path} with {' '.join(CHEMPROP)} (about 1.6 GB) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(Path(path) / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, CHEMPROP[0]], check=True)
        subprocess.run([*pip, *CHEMPROP], check=True)
    return str(command)


def gnn_params(hidden, aggregation):
    """The schema's ``gnn`` defaults with a size, one epoch and no early stopping."""
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    gnn = schema["properties"]["molecules"]["additionalProperties"]["properties"]["gnn"]["properties"]
    sizes = {"hidden": hidden, "layers": 3, "aggregation": aggregation, "max_epochs": 1, "dropout": 0.0}
    return {key: spec["default"] for key, spec in gnn.items()} | sizes


def train_dlbio(arch, params, smiles, logp, path):
    """One epoch of ``arch`` on the molecules (90% train, 10% val); the model file."""
    tensors = featurize_many(smiles, processes=1)
    tensors["y"] = torch.tensor(logp[:, None], dtype=torch.float32)
    split = np.where(np.arange(len(smiles)) % 10 == 0, "val", "train")
    model, scaler, _ = fit_molecule_model(
        arch, to_data_list(tensors), split, "regression", params, torch.device("cpu"), 0
    )
    save_molecule_model(path, model, scaler, arch, params, "regression", ["logp"], STANDARDIZE)
    return path


def train_chemprop(chemprop, train_csv, folder):
    """One epoch of chemprop's default model; the saved ``.pt`` model file."""
    subprocess.run(
        [chemprop, "train", "-i", train_csv, "-s", "smiles", "--target-columns", "logp", "-t", "regression",
         "--epochs", "1", "--warmup-epochs", "0", "--num-workers", "0", "--accelerator", "cpu",
         "--save-dir", str(folder), "-q"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(next(p for p in Path(folder).rglob("*.pt") if "checkpoint" not in p.parts))


def best_seconds(command, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", default=os.environ.get("DLBIO_CHEMPROP_VENV", REPO / "benchmarks/.venv-chemprop"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1, help="repeat the 10,000 SMILES this many times")
    args = parser.parse_args()
    RDLogger.DisableLog("rdApp.*")
    chemprop = chemprop_venv(args.venv)
    smiles = pd.read_csv(WEHI, header=None).iloc[:, 0].tolist()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        library = tmp / "library.csv"
        pd.DataFrame({"smiles": smiles * args.copies}).to_csv(library, index=False)
        train = smiles[:N_TRAIN]
        logp = np.array([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in train])
        pd.DataFrame({"smiles": train, "logp": logp}).to_csv(tmp / "train.csv", index=False)
        dlbio_python = [sys.executable, "-c", DLBIO_PREDICT]
        out = [str(tmp / "dlbio.tsv"), str(tmp / "rejected.tsv")]
        commands = {
            "chemprop predict (D-MPNN 300, depth 3)": [
                chemprop, "predict", "-i", str(library), "-s", "smiles", "--model-paths",
                train_chemprop(chemprop, tmp / "train.csv", tmp / "chemprop"), "-o", str(tmp / "chemprop.csv"),
                "--num-workers", "0", "--accelerator", "cpu",
            ],
            "dlbio predict_library (dmpnn 300, depth 3)": [
                *dlbio_python, train_dlbio("dmpnn", gnn_params(300, "norm"), train, logp, tmp / "dmpnn.pt"),
                str(library), *out,
            ],
            "dlbio predict_library (gine 128, 3 layers)": [
                *dlbio_python, train_dlbio("gine", gnn_params(128, "sum"), train, logp, tmp / "gine.pt"),
                str(library), *out,
            ],
        }  # fmt: skip
        seconds = {name: best_seconds(command, args.repeats) for name, command in commands.items()}
        n_dlbio = len(pd.read_csv(tmp / "dlbio.tsv", sep="\t"))
        n_chemprop = len(pd.read_csv(tmp / "chemprop.csv"))
    n = len(smiles) * args.copies
    baseline = n / seconds[next(iter(seconds))]
    table = pd.DataFrame(
        [{"method": k, "seconds": v, "molecules/s": n / v, "ratio": n / v / baseline} for k, v in seconds.items()]
    )
    print(f"{n} SMILES from {WEHI}; predicted: chemprop {n_chemprop}, dlbio {n_dlbio} (the rest rejected)")
    print(f"torch threads {torch.get_num_threads()}, CPU cores {os.cpu_count()}\n")
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
