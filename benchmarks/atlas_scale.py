"""Benchmark the single-cell chain at atlas scale: the real workflow on 100k-1M simulated raw-count cells.

Run from the repository root (idle machine; the 1M case takes about an hour on 2 cores):

    .venv/bin/python benchmarks/atlas_scale.py --cells 100000 300000 1000000 [--variants 100000]

Data: ``dlbio.data.simulate_cells.simulate_atlas`` (2,000 genes, 8 cell types in sibling pairs told apart by
20 weak markers, 4 donors with a gene-wise batch effect, about 450 detected genes per cell), written once per
size to ``--workdir`` as .h5ad.

For each size, Snakemake runs the cells chain of ``CONFIG`` with ``--cores 2 --resources gpu=1`` (one
GNN at a time, the baseline beside it): raw counts → QC → normalise → 1,000 HVGs per donor → sparse-aware
scaling → 50 PCs → approximate kNN graph → GCN, GraphSAGE and GAT on sampled mini-batches of 1,024 cells
(50 steps an epoch, patience 8 epochs; a full-batch GCN epoch is one optimiser step over the whole graph)
and the logistic baseline. Per rule: wall seconds and peak resident memory from Snakemake's ``benchmark:``
files; per size: the chain's wall time and test accuracy of every model.

``--variants N`` also prepares, at N cells, the same data with whole donors held out for testing
(``split.method: batch``) and with the autoencoder embedding (``preprocess.embedding: autoencoder``), and
prints accuracy and macro-F1 of every model on random split / held-out donor / autoencoder side by side.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG = {
    "label_key": "cell_type",
    "batch_key": "donor",
    "preprocess": {"n_top_genes": 1000},
    "graph": {"method": "approximate"},
    "models": ["gcn", "sage", "gat"],
    "gnn": {"batch_size": 1024, "max_epochs": 50, "patience": 8},  # mini-batches for every model
}
VARIANTS = {
    "held-out donor": {"split": {"method": "batch", "test": 0.25}},
    "autoencoder": {"preprocess": {"n_top_genes": 1000, "embedding": "autoencoder"}},
}
RULES = ["cells_prepare", "cells_train_gnn", "cells_baseline"]


def atlas(n, workdir):
    """The simulated atlas of ``n`` cells as an .h5ad in ``workdir``, written by a separate process once."""
    path = workdir / f"atlas_{n}.h5ad"
    if not path.exists():
        code = (
            "import sys; from dlbio.data.simulate_cells import simulate_atlas; "
            "simulate_atlas(int(sys.argv[1])).write_h5ad(sys.argv[2])"
        )
        subprocess.run([sys.executable, "-c", code, str(n), str(path) + ".part"], check=True)
        os.replace(str(path) + ".part", path)
    return path


def run_chain(workdir, datasets):
    """Run the workflow on ``datasets`` (name → cells entry) in ``workdir``; returns its wall seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump({"cells": datasets}))
    targets = [f"results/cells/{name}/comparison.tsv" for name in datasets]
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", "config.yaml", "--cores", "2", "--resources", "gpu=1"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=workdir)
    return time.perf_counter() - start


def rule_rows(workdir, dataset, n):
    """Wall seconds and peak memory (GB) of every job of ``dataset``, from Snakemake's benchmark files."""
    results = workdir / "results/cells" / dataset
    files = {"cells_prepare": results / "prepare.benchmark.tsv"}
    files |= {f"cells_train_gnn {m}": results / m / "rep0/benchmark.tsv" for m in CONFIG["models"]}
    files["cells_baseline logreg"] = results / "logreg/rep0/benchmark.tsv"
    rows = []
    for job, path in files.items():
        measured = pd.read_csv(path, sep="\t").iloc[0]
        rows.append({"cells": n, "job": job, "wall s": measured["s"], "peak GB": measured["max_rss"] / 1024})
    return rows


def accuracy(workdir, dataset, models=CONFIG["models"]):
    """Test accuracy and macro-F1 of ``models`` and the baseline on ``dataset`` (replicate 0)."""
    scores = {}
    for model in [*models, "logreg"]:
        metrics = json.loads((workdir / "results/cells" / dataset / model / "rep0/metrics.json").read_text())
        scores[model] = (metrics["accuracy"], metrics["macro_f1"])
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--variants", type=int, help="cells for the held-out-donor and autoencoder variants")
    parser.add_argument("--variant-models", nargs="+", default=CONFIG["models"], help="GNNs of the variants")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dlbio-atlas"))
    parser.add_argument("--skip-chain", action="store_true", help="reuse the chains already run in --workdir")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows, chains = [], []
    for n in args.cells:
        entry = CONFIG | {"h5ad": str(atlas(n, args.workdir))}
        workdir = args.workdir / f"run_{n}"
        wall = float("nan") if args.skip_chain else run_chain(workdir, {"atlas": entry})
        rows += rule_rows(workdir, "atlas", n)
        scores = accuracy(workdir, "atlas")
        chains.append({"cells": n, "chain wall min": wall / 60, **{f"{m} accuracy": a for m, (a, _) in scores.items()}})
        print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"), flush=True)
        if n == args.variants:
            names = {name: name.replace(" ", "_") for name in VARIANTS}
            variants = {names[v]: entry | change | {"models": args.variant_models} for v, change in VARIANTS.items()}
            run_chain(args.workdir / f"variants_{n}", variants)
            scores = {m: scores[m] for m in [*args.variant_models, "logreg"]}
            table = {"random split, PCA": scores}
            table |= {v: accuracy(args.workdir / f"variants_{n}", name, args.variant_models) for v, name in names.items()}
            print(f"\n## {n} cells, same models: random split vs held-out donor vs autoencoder embedding\n")
            print(pd.DataFrame({
                name: {f"{m} accuracy / macro-F1": f"{a:.3f} / {f:.3f}" for m, (a, f) in scores.items()}
                for name, scores in table.items()
            }).to_markdown(), flush=True)  # fmt: skip
    print("\n## Per job\n\n" + pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))
    print("\n## Per size\n\n" + pd.DataFrame(chains).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
