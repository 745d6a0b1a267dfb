"""Single cells: AnnData → scanpy preprocessing → PCA → scikit-learn kNN graph → PyG tensors."""

import logging
import math

import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp
import torch
from sklearn.model_selection import train_test_split
from sklearn.neighbors import kneighbors_graph
from torch_geometric.data import Data

from dlbio.errors import InputError, require_file
from dlbio.io import load_tensors

BUILTIN_PREFIX = "scanpy:"
BUILTINS = {"pbmc68k_reduced": sc.datasets.pbmc68k_reduced}
SPLITS = ("train", "val", "test")
INPUT_SAMPLE_CELLS = 10_000  # cells checked against preprocess.input (a seeded sample of bigger data)
# Raw counts declared 'normalized': every value an integer and a median cell total of at least this many.
# Log-normalised (log1p) or scaled data are non-integer, so integer values alone point to counts; the
# total rules out small integer tables. 500 is a common empty-droplet cutoff: real cells' raw totals
# (UMIs) lie above it, typically in the thousands.
RAW_MIN_MEDIAN_TOTAL = 500
log = logging.getLogger(__name__)


def load_cells(source, label_key, key="h5ad"):
    """Read ``source`` (an .h5ad path or ``scanpy:<name>``) and check its labels and values.

    ``key`` is the config key that named ``source``, used in error messages.
    """
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX) :]
        if name not in BUILTINS:
            raise InputError(f"config key '{key}': unknown built-in dataset '{name}'; choose from {sorted(BUILTINS)}")
        adata = BUILTINS[name]()
    else:
        require_file(source, key)
        try:
            adata = sc.read_h5ad(source)
        except OSError as err:
            raise InputError(f"'{source}' (config key '{key}') is not a readable .h5ad file: {err}") from err
    if label_key not in adata.obs:
        raise InputError(
            f"'{source}': label column '{label_key}' not in .obs; available columns: {', '.join(map(str, adata.obs.columns))}"
        )
    missing = int(adata.obs[label_key].isna().sum())
    if missing:
        raise InputError(f"'{source}': {missing} cells have no label in column '{label_key}'")
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    if not np.isfinite(values).all():
        raise InputError(f"'{source}': the expression matrix holds {int((~np.isfinite(values)).sum())} NaN/inf values")
    adata.obs[label_key] = adata.obs[label_key].astype(str)
    return adata


def _sample_values(adata):
    """Stored values (sparse: the non-zeros) and per-cell totals of at most ``INPUT_SAMPLE_CELLS`` cells (seeded)."""
    x = adata.X
    if adata.n_obs > INPUT_SAMPLE_CELLS:
        x = x[np.sort(np.random.default_rng(0).choice(adata.n_obs, INPUT_SAMPLE_CELLS, replace=False))]
    values = x.data if sp.issparse(x) else np.asarray(x).ravel()
    return values, np.asarray(x.sum(axis=1)).ravel()


def check_declared_input(adata, declared, source, key="preprocess.input"):
    """Fail if the matrix of ``source`` contradicts ``preprocess.input`` (config key ``key``).

    Counts must be non-negative integers; data declared normalised must not look like raw counts
    (``RAW_MIN_MEDIAN_TOTAL``). Sparse matrices stay sparse; big data are checked on a sample of cells.
    """
    values, totals = _sample_values(adata)
    fractional = values[values % 1 != 0]
    where = f"config key '{key}' is '{declared}' but '{source}'"
    if declared == "counts" and values.size and values.min() < 0:
        raise InputError(f"{where} has negative values (min {values.min():g}), unlike raw counts; use 'normalized'")
    if declared == "counts" and fractional.size:
        raise InputError(
            f"{where} has non-integer values (e.g. {fractional[0]:g}), unlike raw counts; use 'normalized'"
        )
    median = float(np.median(totals)) if totals.size else 0.0
    if declared == "normalized" and not fractional.size and median >= RAW_MIN_MEDIAN_TOTAL:
        raise InputError(
            f"{where} looks like raw counts: every value is an integer and the median total per cell is {median:g} "
            f"(log-normalised data are non-integer); use 'counts'"
        )


def preprocess(adata, params, seed):
    """QC/normalise (``input: counts``) or take normalised data, then HVG, scale and PCA.

    The input should have passed :func:`check_declared_input`.
    Returns a new AnnData holding the PCs in ``obsm['X_pca']``.
    """
    adata = adata.copy()
    if params["input"] == "counts":
        sc.pp.filter_cells(adata, min_genes=params["min_genes"])
        if params["max_pct_mt"] is not None:
            adata.var["mt"] = adata.var_names.str.startswith(params["mt_prefix"])
            sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
            adata = adata[adata.obs["pct_counts_mt"] <= params["max_pct_mt"]].copy()
        if adata.n_obs == 0:
            raise InputError("QC removed every cell; lower preprocess.min_genes or raise preprocess.max_pct_mt")
        sc.pp.filter_genes(adata, min_cells=params["min_cells"])
        sc.pp.normalize_total(adata, target_sum=params["target_sum"])
        sc.pp.log1p(adata)
    if params["n_top_genes"] and params["n_top_genes"] < adata.n_vars:
        sc.pp.highly_variable_genes(adata, n_top_genes=params["n_top_genes"], subset=True)
    if params["scale"]:
        sc.pp.scale(adata, max_value=params["scale_max"])
    n_pcs = params["n_pcs"]
    if n_pcs >= min(adata.n_obs, adata.n_vars):
        raise InputError(
            f"preprocess.n_pcs = {n_pcs} must be smaller than the number of cells ({adata.n_obs}) and genes ({adata.n_vars})"
        )
    sc.pp.pca(adata, n_comps=n_pcs, random_state=seed)
    log.info("preprocessed: %d cells x %d genes -> %d PCs", adata.n_obs, adata.n_vars, n_pcs)
    return adata


def knn_graph(x, k, metric, symmetrize):
    """Undirected weighted kNN graph on the rows of ``x`` with scikit-learn.

    Edge weights are a Gaussian kernel of the distance with the median kNN distance as
    bandwidth. ``union`` keeps an edge found from either end (every node has degree ≥ k),
    ``mutual`` only edges found from both ends. No self-loops. Returns ``(edge_index,
    edge_weight)`` tensors with both directions of every edge.
    """
    n = x.shape[0]
    if k >= n:
        raise InputError(f"graph.k = {k} must be smaller than the number of cells ({n})")
    dist = kneighbors_graph(x, k, mode="distance", metric=metric, include_self=False, n_jobs=-1).tocsr()
    scale = np.median(dist.data) or 1.0
    dist.data = np.maximum(np.exp(-((dist.data / scale) ** 2)), np.finfo(np.float32).tiny)
    adj = dist.maximum(dist.T) if symmetrize == "union" else dist.minimum(dist.T)
    adj = sp.coo_matrix(adj)
    edge_index = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    return edge_index, torch.from_numpy(adj.data.astype(np.float32))


def min_cells_per_class(val, test):
    """Fewest cells a class needs so that each split gets at least one."""
    return max(3, math.ceil(1 / val), math.ceil(1 / test))


def stratified_split(labels, val, test, seed):
    """Seeded stratified train/val/test assignment (an array of split names)."""
    labels = np.asarray(labels)
    counts = pd.Series(labels).value_counts()
    need = min_cells_per_class(val, test)
    small = counts[counts < need]
    if len(small):
        listed = ", ".join(f"'{c}' ({n})" for c, n in small.items())
        raise InputError(
            f"classes with too few cells to split (need {need} for split.val = {val}, split.test = {test}): {listed}"
        )
    idx = np.arange(len(labels))
    rest, test_idx = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(
        rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed
    )
    split = np.empty(len(labels), dtype=object)
    split[train_idx], split[val_idx], split[test_idx] = "train", "val", "test"
    return split


def build_cell_graph(adata, label_key, graph, split, seed):
    """Graph tensors (features = PCs, labels, weighted kNN edges, masks) and the per-cell table."""
    x = adata.obsm["X_pca"].astype(np.float32)
    labels = adata.obs[label_key].to_numpy()
    classes = np.unique(labels)
    assignment = stratified_split(labels, split["val"], split["test"], seed)
    edge_index, edge_weight = knn_graph(x, graph["k"], graph["metric"], graph["symmetrize"])
    tensors = {
        "x": torch.from_numpy(x),
        "y": torch.from_numpy(np.searchsorted(classes, labels)),
        "edge_index": edge_index,
        "edge_weight": edge_weight,
        **{f"{s}_mask": torch.from_numpy(assignment == s) for s in SPLITS},
    }
    cells = pd.DataFrame({"cell": adata.obs_names, "label": labels, "split": assignment})
    return tensors, cells


def prepare_cell_dataset(name, cfg):
    """Config entry ``cells.<name>`` → (graph tensors, per-cell table); errors name the entry."""
    try:
        adata = load_cells(cfg["h5ad"], cfg["label_key"], key=f"cells.{name}.h5ad")
        check_declared_input(adata, cfg["preprocess"]["input"], cfg["h5ad"], key=f"cells.{name}.preprocess.input")
        adata = preprocess(adata, cfg["preprocess"], cfg["seed"])
        return build_cell_graph(adata, cfg["label_key"], cfg["graph"], cfg["split"], cfg["seed"])
    except InputError as err:
        raise InputError(f"dataset cells.{name}: {err}") from None


def load_cell_graph(graph_path, cells_path):
    """Read a prepared graph back as a PyG ``Data``, the per-cell table and the class names."""
    cells = pd.read_csv(cells_path, sep="\t", dtype={"label": str})
    return Data(**load_tensors(graph_path)), cells, np.unique(cells["label"])
