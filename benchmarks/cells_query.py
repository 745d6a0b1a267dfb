"""Benchmark query-cell annotation: cells labelled per second at 10k and 100k query cells.

Run from the repository root:

    .venv/bin/python benchmarks/cells_query.py [--sizes 10000 100000] [--reference 5000] [--genes 1000]

Data: seeded negative-binomial raw counts (sparse CSR) with one block of marker genes per cell type; the
reference and the query are drawn from the same types with different seeds. The reference is prepared
as a ``cells`` entry would be (QC, normalise, 500 HVGs, scale, 30 PCs, kNN graph), a GCN and the
logistic baseline are trained on it and saved; that part is not timed. Each method then labels the
same in-memory query of raw counts, timed from the counts to the labels (loading the saved models
included for dlbio), after one untimed warm-up call on 1,000 cells (numba/pynndescent compilation):

- dlbio gcn / logreg / all: :func:`dlbio.apply.cells.annotate` with the GCN, the logistic baseline on
  the reference PCs, or both (the kNN links to the reference are built once for all models);
- CellTypist-like: a scikit-learn logistic regression on the 500 scaled HVGs (CellTypist's model
  family, trained here on the reference; the query normalised, log1p-transformed and scaled with the
  reference's means and stds);
- scanpy ingest: ``sc.tl.ingest`` (pynndescent kNN label transfer in the reference PCA), the query
  normalised, log1p-transformed, subset to the HVGs and scaled as its tutorial does (own statistics).

``ratio`` is the method's cells/s over scanpy ingest's at the same size; ``accuracy`` is on the query.
"""

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from torch_geometric.data import Data

from dlbio.apply.cells import annotate, load_models, reference_markers
from dlbio.data.cell_reference import load_reference, save_reference
from dlbio.train.cell_baseline import fit_logistic, save_logistic
from dlbio.train.cell_embedding import prepare_cell_dataset
from dlbio.train.cell_gnn import fit_node_classifier, save_node_classifier

TYPES, SEED, CHUNK = 8, 0, 10_000
PREPROCESS = {"input": "counts", "min_genes": 10, "min_cells": 3, "max_pct_mt": None, "mt_prefix": "MT-",
              "target_sum": 1e4, "n_top_genes": 500, "scale": True, "scale_max": 10, "n_pcs": 30}  # fmt: skip
GNN = {"hidden": 64, "layers": 2, "dropout": 0.5, "heads": None, "lr": 0.01, "weight_decay": 5e-4,
       "max_epochs": 60, "patience": 10}  # fmt: skip
warnings.filterwarnings("ignore")
logging.disable(logging.INFO)


def simulate(n, genes, seed):
    """``n`` cells of raw counts (CSR) over ``genes`` genes, cell types ``type0``..; same profiles for any seed."""
    profile = np.random.default_rng(SEED)
    means = np.tile(profile.gamma(0.5, 1.0, genes), (TYPES, 1))
    block = genes // (2 * TYPES)
    for t in range(TYPES):
        means[t, t * block : (t + 1) * block] *= 3
    rng = np.random.default_rng(seed)
    labels = rng.integers(TYPES, size=n)
    blocks = [sp.csr_matrix(rng.poisson(means[labels[s : s + CHUNK]]).astype(np.float32)) for s in range(0, n, CHUNK)]
    obs = pd.DataFrame({"cell_type": [f"type{t}" for t in labels]}, index=[f"c{seed}_{i}" for i in range(n)])
    return ad.AnnData(sp.vstack(blocks).tocsr(), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(genes)]))


def prepare(n_reference, genes, folder):
    """Prepare the reference, train and save the GCN and logistic baseline, fit the peers' references."""
    simulate(n_reference, genes, seed=1).write_h5ad(folder / "reference.h5ad")
    cfg = {"h5ad": str(folder / "reference.h5ad"), "label_key": "cell_type", "seed": SEED, "preprocess": PREPROCESS,
           "graph": {"k": 15, "metric": "euclidean", "symmetrize": "union"}, "split": {"val": 0.2, "test": 0.2}}  # fmt: skip
    tensors, cells, reference, _ = prepare_cell_dataset("bench", cfg)
    save_reference(reference, folder / "reference.npz")
    markers = reference_markers(cfg["h5ad"], load_reference(folder / "reference.npz"), cells, 20, "h5ad")
    graph = Data(**tensors)
    model, _ = fit_node_classifier("gcn", graph, GNN, torch.device("cpu"), SEED)
    save_node_classifier(model, "gcn", GNN, folder / "gcn.pt", 1.0)  # temperature 1: this measures speed
    train = tensors["train_mask"].numpy()
    save_logistic(fit_logistic(tensors["x"].numpy()[train], tensors["y"].numpy()[train], 1.0, 1000, SEED),
                  folder / "logreg.npz", 1.0)  # fmt: skip
    ref = sc.read_h5ad(folder / "reference.h5ad")
    ref = ref[:, reference["genes"]].copy()
    sc.pp.normalize_total(ref, target_sum=PREPROCESS["target_sum"])
    sc.pp.log1p(ref)
    ref = ref[:, reference["features"]].copy()
    sc.pp.scale(ref, max_value=PREPROCESS["scale_max"])
    celltypist = LogisticRegression(max_iter=1000, random_state=SEED).fit(ref.X, ref.obs["cell_type"])
    sc.pp.pca(ref, n_comps=PREPROCESS["n_pcs"], random_state=SEED)
    sc.pp.neighbors(ref, n_neighbors=15, random_state=SEED)
    return graph, markers, {"reference": ref, "celltypist": celltypist}


def log_normalised(query, reference):
    """Query counts → log-normalised HVGs (scanpy), as the peers take them."""
    query = query[:, reference["genes"]].copy()
    sc.pp.normalize_total(query, target_sum=reference["target_sum"])
    sc.pp.log1p(query)
    return query[:, reference["features"]].copy()


def run_dlbio(names, folder, graph, markers):
    def run(query):
        reference = load_reference(folder / "reference.npz")
        models = load_models({name: folder / f"{name}.{'npz' if name == 'logreg' else 'pt'}" for name in names},
                             reference)  # fmt: skip
        table, _ = annotate(query, reference, graph, models, "query", markers, min_shared_fraction=0.5)
        return table[table["model"] == names[0]]["predicted"].to_numpy()

    return run


def run_celltypist(peers, reference):
    def run(query):
        x = log_normalised(query, reference).X.toarray()
        scaled = np.clip((x - reference["scale_mean"]) / reference["scale_std"], -10, 10)
        return peers["celltypist"].predict(scaled)

    return run


def run_ingest(peers, reference):
    def run(query):
        query = log_normalised(query, reference)
        sc.pp.scale(query, max_value=PREPROCESS["scale_max"])
        sc.tl.ingest(query, peers["reference"], obs="cell_type", embedding_method="pca")
        return query.obs["cell_type"].astype(str).to_numpy()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reference", type=int, default=5_000)
    parser.add_argument("--genes", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        graph, markers, peers = prepare(args.reference, args.genes, folder)
        reference = load_reference(folder / "reference.npz")
        methods = {
            "dlbio gcn": run_dlbio(["gcn"], folder, graph, markers),
            "dlbio logreg (PCs)": run_dlbio(["logreg"], folder, graph, markers),
            "dlbio gcn + logreg": run_dlbio(["gcn", "logreg"], folder, graph, markers),
            "CellTypist-like (logreg on HVGs)": run_celltypist(peers, reference),
            "scanpy ingest": run_ingest(peers, reference),
        }
        warmup = simulate(1_000, args.genes, seed=2)
        for run in methods.values():
            run(warmup.copy())
        rows = []
        for size in args.sizes:
            query = simulate(size, args.genes, seed=3)
            truth = query.obs["cell_type"].to_numpy()
            for name, run in methods.items():
                copy = query.copy()
                start = time.perf_counter()
                predicted = run(copy)
                seconds = time.perf_counter() - start
                rows.append({"method": name, "cells": size, "seconds": seconds, "cells/s": size / seconds,
                             "accuracy": float(np.mean(predicted == truth))})  # fmt: skip
    table = pd.DataFrame(rows)
    ingest = table[table["method"] == "scanpy ingest"].set_index("cells")["cells/s"]
    table["ratio"] = table["cells/s"] / table["cells"].map(ingest)
    wide = table.pivot(index="method", columns="cells", values=["cells/s", "ratio", "accuracy"]).loc[list(methods)]
    wide.columns = [f"{value} @{cells // 1000}k" for value, cells in wide.columns]
    print(f"reference {args.reference} cells x {args.genes} genes; torch threads {torch.get_num_threads()}")
    print(wide.to_markdown(floatfmt=".3g"))


if __name__ == "__main__":
    main()
