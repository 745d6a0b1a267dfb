"""Benchmark the single-cell graph path: kNN construction and one GCN training epoch.

Run from the repository root:

    .venv/bin/python benchmarks/knn_graph.py [--sizes 10000 50000 100000] [--k 15]

Data: a seeded 20-cluster Gaussian mixture in 50 dimensions (stand-in for the PCs of cell types).

1. kNN graph: ``dlbio.data.cells.knn_graph`` (exact, scikit-learn) versus ``scanpy.pp.neighbors``
   (approximate, pynndescent). Each Snakemake job is a fresh process, so every method runs in
   its own subprocess and only the call is timed (not the imports). scanpy is timed three ways:
   cold (empty numba cache, so JIT compilation included), cached (fresh process reading the numba
   on-disk cache the cold run wrote) and warm (second call in the same process). Recall is the
   fraction of scanpy's neighbours that are among the exact nearest ones; scanpy counts the cell
   itself in ``n_neighbors``, so it returns k - 1 neighbours and is compared with the exact k - 1.
2. One GCN epoch (forward + backward, 2 layers, hidden 64, weighted kNN graph): ``edge_index`` +
   ``edge_weight`` versus ``dlbio.models.gnn.sparse_adjacency`` (built once, outside the timing).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.neighbors import NearestNeighbors
from torch_geometric.nn.models import GCN

from dlbio.data.cells import knn_graph
from dlbio.models.gnn import sparse_adjacency

DIMS, CLUSTERS, SEED = 50, 20, 0
HIDDEN, REPEATS = 64, 5
warnings.filterwarnings("ignore", "Sparse", UserWarning)  # torch: sparse CSR is beta


def make_cells(n):
    """Seeded Gaussian mixture: ``n`` cells × ``DIMS`` features and their cluster labels."""
    rng = np.random.default_rng(SEED)
    centers = rng.normal(scale=3.0, size=(CLUSTERS, DIMS))
    labels = rng.integers(CLUSTERS, size=n)
    x = centers[labels] + rng.normal(size=(n, DIMS))
    return x.astype(np.float32), labels


def timed(fn, *args, **kwargs):
    """Seconds taken by one call of ``fn``."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def scanpy_recall(x, adata, k):
    """Fraction of scanpy's neighbours that are among the exact k - 1 nearest (self excluded)."""
    exact = NearestNeighbors(n_neighbors=k - 1).fit(x).kneighbors(return_distance=False)
    indptr = np.arange(0, exact.size + 1, k - 1)
    truth = sp.csr_matrix((np.ones(exact.size), exact.ravel(), indptr), shape=adata.obsp["distances"].shape)
    found = adata.obsp["distances"] > 0
    return float(found.multiply(truth).sum() / found.sum())


def worker(method, n, k):
    """Time ``method`` on ``n`` cells inside this (fresh) process; returns a dict of results."""
    x, _ = make_cells(n)
    if method == "ours":
        return {"ours_s": timed(knn_graph, x, k, metric="euclidean", symmetrize="union")}
    import anndata
    import scanpy as sc

    adata = anndata.AnnData(x)
    first = timed(sc.pp.neighbors, adata, n_neighbors=k, use_rep="X")
    warm = timed(sc.pp.neighbors, adata, n_neighbors=k, use_rep="X")
    return {"first_s": first, "warm_s": warm, "recall": scanpy_recall(x, adata, k)}


def in_subprocess(method, n, k, env=None):
    """Run ``worker`` in a fresh Python process and parse its JSON result."""
    cmd = [sys.executable, __file__, "--worker", method, "--sizes", str(n), "--k", str(k)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env).stdout
    return json.loads(out.splitlines()[-1])


def knn_row(n, k):
    """One row of the kNN table: ours versus scanpy cold / cached / warm, and scanpy's recall."""
    ours = in_subprocess("ours", n, k)["ours_s"]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold = in_subprocess("scanpy", n, k, env)
        cached = in_subprocess("scanpy", n, k, env)
    return {
        "n_cells": n,
        "ours_s": ours,
        "scanpy_cold_s": cold["first_s"],
        "scanpy_cached_s": cached["first_s"],
        "scanpy_warm_s": cold["warm_s"],
        "cold ratio": cold["first_s"] / ours,
        "cached ratio": cached["first_s"] / ours,
        "warm ratio": cold["warm_s"] / ours,
        "scanpy recall": cold["recall"],
    }


def epoch_ms(model, x, y, *graph):
    """Median milliseconds of one forward + backward pass (after a warm-up) and the last output."""
    times = []
    for _ in range(REPEATS + 1):
        model.zero_grad()
        start = time.perf_counter()
        out = model(x, *graph)
        F.cross_entropy(out, y).backward()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times[1:])), out.detach()


def gcn_row(n, k):
    """One row of the GCN table: an epoch with ``edge_index`` versus the sparse adjacency."""
    x, labels = make_cells(n)
    edge_index, edge_weight = knn_graph(x, k, "euclidean", "union")
    x, y = torch.from_numpy(x), torch.from_numpy(labels)
    torch.manual_seed(SEED)
    model = GCN(DIMS, HIDDEN, num_layers=2, out_channels=CLUSTERS)
    edge_ms, edge_out = epoch_ms(model, x, y, edge_index, edge_weight)
    sparse_ms, sparse_out = epoch_ms(model, x, y, sparse_adjacency(edge_index, n, edge_weight))
    return {
        "n_cells": n,
        "edges": edge_index.shape[1],
        "edge_index_ms": edge_ms,
        "sparse_ms": sparse_ms,
        "speed-up": edge_ms / sparse_ms,
        "max_abs_diff": (edge_out - sparse_out).abs().max().item(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000, 100000], help="numbers of cells")
    parser.add_argument("--k", type=int, default=15, help="neighbours per cell")
    parser.add_argument("--worker", choices=["ours", "scanpy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.worker:
        print(json.dumps(worker(args.worker, args.sizes[0], args.k)))
        return
    for title, row in [("kNN graph construction", knn_row), ("GCN epoch (forward + backward)", gcn_row)]:
        table = pd.DataFrame([row(n, args.k) for n in args.sizes])
        formats = [".0f" if pd.api.types.is_integer_dtype(dtype) else ".3g" for dtype in table.dtypes]
        print(f"\n## {title}\n\n{table.to_markdown(index=False, floatfmt=formats)}", flush=True)


if __name__ == "__main__":
    main()
