"""Molecule featurisation speed: dlbio versus ``torch_geometric.utils.from_smiles``, side by side.

    .venv/bin/python benchmarks/featurize.py [--repeats 3] [--copies 1]

Input: the 10,000 real SMILES RDKit ships in ``Data/Pains/test_data/wehi_mols.csv`` (``--copies``
repeats the list for larger runs). Compared, on the same SMILES in one run: PyG's
``from_smiles`` in a loop (one process, returns ``Data`` objects), dlbio's ``featurize_many`` in
one process, and dlbio's ``featurize_many`` on a process pool (both cores; workers return numpy
arrays). Best of ``--repeats`` runs; prints molecules/s and the ratio to ``from_smiles``.
"""

import argparse
import os
import time

import pandas as pd
from rdkit import RDConfig, RDLogger
from torch_geometric.utils import from_smiles

from dlbio.data.molecules.featurize import featurize_many

WEHI = os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv")


def best_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--copies", type=int, default=1, help="repeat the 10,000 SMILES this many times")
    args = parser.parse_args()
    RDLogger.DisableLog("rdApp.*")
    smiles = pd.read_csv(WEHI, header=None).iloc[:, 0].tolist() * args.copies
    methods = {
        "torch_geometric from_smiles (1 process)": lambda: [from_smiles(s) for s in smiles],
        "dlbio featurize_many (1 process)": lambda: featurize_many(smiles, processes=1),
        f"dlbio featurize_many (pool of {os.cpu_count()})": lambda: featurize_many(smiles, pool_min=0),
    }
    seconds = {name: best_seconds(fn, args.repeats) for name, fn in methods.items()}
    baseline = next(iter(seconds.values()))
    table = pd.DataFrame(
        [{"method": k, "seconds": v, "molecules/s": len(smiles) / v, "vs from_smiles": baseline / v} for k, v in seconds.items()]
    )
    print(f"{len(smiles)} SMILES from {WEHI}\n")
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
