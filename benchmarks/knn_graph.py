"""Benchmark the single-cell graph path: kNN construction and one GCN training epoch.

Run from the repository root:

    .venv/bin/python benchmarks/knn_graph.py [--sizes 10000 100000 1000000] [--k 15] [--gcn-sizes 10000 50000 100000]

Data: a seeded 20-cluster Gaussian mixture in 50 dimensions (stand-in for the PCs of cell types; isotropic
noise in every dimension, a little harder for approximate search than real PCs, whose variance decays but
only slowly past the first few: scanpy's pbmc68k_reduced, 0.094 → 0.043 of PC 1's from PC 10 to PC 50).

1. kNN graph, each method in a fresh subprocess (a Snakemake job is one), only the call timed (not the
   imports), 2 threads each: ``dlbio.data.cells.knn_distances`` exact (scikit-learn on CPU) beside
   ``brute_force_neighbours`` (torch: dlbio's exact search on CUDA, timed on the device this machine has; both
   skipped above ``--exact-max`` cells, they are quadratic) and approximate (pynndescent, plus the 1,000-cell
   recall check it runs, included in its time), versus ``scanpy.pp.neighbors`` (pynndescent through UMAP's
   settings, plus its connectivities). Both numba users are timed cold (empty numba cache: JIT compilation
   included; sizes up to ``--cold-max``) and cached (a fresh process reading the on-disk cache). Recall: the
   fraction of the exact k nearest neighbours (self excluded) found, on the same 1,000 sampled cells for both
   (scanpy counts the cell itself in ``n_neighbors``, so it is asked for k + 1).
2. One GCN epoch (forward + backward, 2 layers, hidden 64, weighted kNN graph): ``edge_index`` +
   ``edge_weight`` versus ``dlbio.models.cell_gnn.sparse_adjacency`` (built once, outside the timing).
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
import torch
import torch.nn.functional as F
from torch_geometric.nn.models import GCN

from dlbio.data.cells import brute_force_neighbours, knn_distances, knn_graph, knn_recall
from dlbio.device import resolve_device
from dlbio.models.cell_gnn import sparse_adjacency

DIMS, CLUSTERS, SEED, THREADS = 50, 20, 0, 2
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


def worker(method, n, k):
    """Time ``method`` on ``n`` cells inside this (fresh) process; returns its seconds and recall."""
    x, _ = make_cells(n)
    if method in ("exact", "approximate"):
        start = time.perf_counter()
        _, _, recall = knn_distances(x, k, "euclidean", method, threads=THREADS)
        return {"s": time.perf_counter() - start, "recall": recall}
    if method == "brute_force":
        return {"s": timed(brute_force_neighbours, x, k, "euclidean", resolve_device())}
    import anndata
    import scanpy as sc

    sc.settings.n_jobs = THREADS
    adata = anndata.AnnData(x)
    seconds = timed(sc.pp.neighbors, adata, n_neighbors=k + 1, use_rep="X")
    distances = adata.obsp["distances"].tocsr()
    indices = np.full((n, k), -1)
    for row in range(n):  # scanpy keeps k neighbours per cell besides itself (fewer where distances tie at 0)
        found = distances.indices[distances.indptr[row] : distances.indptr[row + 1]][:k]
        indices[row, : len(found)] = found
    return {"s": seconds, "recall": knn_recall(x, indices, k, "euclidean", THREADS)}


def in_subprocess(method, n, k, env=None):
    """Run ``worker`` in a fresh Python process and parse its JSON result."""
    cmd = [sys.executable, __file__, "--worker", method, "--sizes", str(n), "--k", str(k)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env).stdout
    return json.loads(out.splitlines()[-1])


def knn_row(n, k, exact_max, cold_max):
    """One row of the kNN table: ours (exact, brute force, approximate) versus scanpy, cold and cached, with
    recalls."""
    row = {"n_cells": n}
    if n <= exact_max:
        row["exact_s"] = in_subprocess("exact", n, k)["s"]
        row[f"brute_force_{resolve_device().type}_s"] = in_subprocess("brute_force", n, k)["s"]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for method in ("approximate", "scanpy"):
            if n <= cold_max:
                row[f"{method}_cold_s"] = in_subprocess(method, n, k, env)["s"]
            else:
                in_subprocess(method, 2000, k, env)  # fills the numba cache
            cached = in_subprocess(method, n, k, env)
            row[f"{method}_cached_s"], row[f"{method}_recall"] = cached["s"], cached["recall"]
    row["scanpy / approximate (cached)"] = row["scanpy_cached_s"] / row["approximate_cached_s"]
    return row


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
    parser.add_argument("--gcn-sizes", type=int, nargs="+", default=[10000, 50000, 100000], help="cells, GCN table")
    parser.add_argument("--exact-max", type=int, default=200_000, help="largest size searched exactly")
    parser.add_argument("--cold-max", type=int, default=100_000, help="largest size also timed with a cold cache")
    parser.add_argument("--worker", choices=["exact", "brute_force", "approximate", "scanpy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    if args.worker:
        print(json.dumps(worker(args.worker, args.sizes[0], args.k)))
        return
    tables = [
        ("kNN graph construction", [knn_row(n, args.k, args.exact_max, args.cold_max) for n in args.sizes]),
        ("GCN epoch (forward + backward)", [gcn_row(n, args.k) for n in args.gcn_sizes]),
    ]
    for title, rows in tables:
        table = pd.DataFrame(rows)
        formats = [".0f" if pd.api.types.is_integer_dtype(dtype) else ".3g" for dtype in table.dtypes]
        print(f"\n## {title}\n\n{table.to_markdown(index=False, floatfmt=formats)}", flush=True)


if __name__ == "__main__":
    main()
