"""Single cells: AnnData reading and checks, QC and sparse-aware scaling (scanpy), batch integration, the kNN
graph (exact: scikit-learn, or brute force in torch on CUDA; approximate: pynndescent), splits and PyG tensors.

The embedding between scaling and the graph (PCA or an autoencoder) and the whole preparation step are in
:mod:`dlbio.train.cell_embedding`.
"""

import logging
import math
from types import SimpleNamespace

import harmonypy
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from dlbio.errors import InputError, require_file, too_few
from dlbio.io import load_tensors

BUILTIN_PREFIX = "scanpy:"


def _pbmc68k(query=None):
    """pbmc68k_reduced, whole or in two for a reference/query demo: every fifth cell is the query, the rest the
    reference."""
    import scanpy as sc  # local, here and below (scanpy, scikit-learn): each costs ~2-3 s to import

    adata = sc.datasets.pbmc68k_reduced()
    return adata if query is None else adata[(np.arange(adata.n_obs) % 5 == 4) == query].copy()


BUILTINS = {
    "pbmc68k_reduced": _pbmc68k,
    "pbmc68k_reduced_reference": lambda: _pbmc68k(query=False),
    "pbmc68k_reduced_query": lambda: _pbmc68k(query=True),
}
SPLITS = ("train", "val", "test")
SPLIT = "dlbio_split"  # .obs column of each cell's split when assigned before the embedding (scANVI reads labels)
INPUT_SAMPLE_CELLS = 10_000  # cells checked against preprocess.input (a seeded sample of bigger data)
# Raw counts declared 'normalized': every value an integer and a median cell total of at least this many.
# Log-normalised (log1p) or scaled data are non-integer, so integer values alone point to counts; the
# total rules out small integer tables. 500 is a common empty-droplet cutoff: real cells' raw totals
# (UMIs) lie above it, typically in the thousands.
RAW_MIN_MEDIAN_TOTAL = 500
UNLABELED = ""  # label of reference cells without one: split 'unlabeled', never trained or scored on
RECALL_SAMPLE = 1_000  # cells whose approximate neighbours are checked against exact search
SEARCH_BREADTH = 3  # approximate kNN: candidates kept per cell while searching, as a multiple of k
SEARCH_BLOCK = 1 << 27  # exact kNN on CUDA: distances computed at once (512 MB in float32)
log = logging.getLogger(__name__)


def read_cells(source, key):
    """Read ``source`` (an .h5ad path or ``scanpy:<name>``; config key ``key``) and check its values are finite."""
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX) :]
        if name not in BUILTINS:
            raise InputError(f"config key '{key}': unknown built-in dataset '{name}'; choose from {sorted(BUILTINS)}")
        adata = BUILTINS[name]()
    else:
        import scanpy as sc

        require_file(source, key)
        try:
            adata = sc.read_h5ad(source)
        except OSError as err:
            raise InputError(f"'{source}' (config key '{key}') is not a readable .h5ad file: {err}") from err
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    if not np.isfinite(values).all():
        raise InputError(f"'{source}': the expression matrix holds {int((~np.isfinite(values)).sum())} NaN/inf values")
    repeated = int(adata.obs_names.duplicated().sum())
    if repeated:
        adata.obs_names_make_unique()
        log.info("'%s': %d cell names repeat an earlier one; made unique with suffixes -1, -2, ...", source, repeated)
    return adata


def read_labels(adata, label_key, source):
    """Labels of ``.obs[label_key]`` as strings, missing ones (NA or empty) as ``UNLABELED``."""
    if label_key not in adata.obs:
        raise InputError(
            f"'{source}': label column '{label_key}' not in .obs; available columns: {', '.join(map(str, adata.obs.columns))}"
        )
    labels = adata.obs[label_key]
    text = labels.astype(str).to_numpy()
    return np.where(labels.isna().to_numpy() | (text == ""), UNLABELED, text).astype(object)


def load_cells(source, label_key, key="h5ad"):
    """Read ``source`` (an .h5ad path or ``scanpy:<name>``) and check its labels and values.

    ``key`` is the config key that named ``source``, used in error messages. Cells without a label
    keep ``UNLABELED``: the models label them, nothing is trained or scored on them.
    """
    adata = read_cells(source, key)
    labels = read_labels(adata, label_key, source)
    missing = int(np.sum(labels == UNLABELED))
    if missing == len(labels):
        raise InputError(f"'{source}': no cell has a label in column '{label_key}'")
    if missing:
        log.info(
            "'%s': %d cells have no label in column '%s'; they are labelled by the models", source, missing, label_key
        )
    adata.obs[label_key] = labels
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


def quality_control(adata, params, keep_counts=False):
    """Raw counts → QC-filtered cells and genes, normalised to ``target_sum`` and log1p-transformed (in place); with
    ``keep_counts`` the filtered raw counts stay in ``layers['counts']`` (what scVI reads)."""
    import scanpy as sc

    sc.pp.filter_cells(adata, min_genes=params["min_genes"])
    if params["max_pct_mt"] is not None:
        adata.var["mt"] = adata.var_names.str.startswith(params["mt_prefix"])
        sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
        adata._inplace_subset_obs(adata.obs["pct_counts_mt"].to_numpy() <= params["max_pct_mt"])
    if adata.n_obs == 0:
        raise InputError("QC removed every cell; lower preprocess.min_genes or raise preprocess.max_pct_mt")
    sc.pp.filter_genes(adata, min_cells=params["min_cells"])
    if keep_counts:
        adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=params["target_sum"])
    sc.pp.log1p(adata)


def scale_sparse_aware(adata, scale_max):
    """Scale every gene to unit variance without centring, so a sparse matrix stays sparse (in place).

    Values are first clipped to ``mean ± scale_max · std`` (stored values only for sparse data): the PCs
    of the result equal those of ``sc.pp.scale(max_value=scale_max)`` followed by PCA, which centres.
    A gene whose mean exceeds ``scale_max`` std would also clip its zeros there; those are counted in the log.
    Returns the gene means and stds (ddof 1, as ``sc.pp.scale``) and the clip in stds (``inf``: none).
    """
    import scanpy as sc

    sc.pp.scale(adata, zero_center=False)
    mean, std = adata.var["mean"].to_numpy(), adata.var["std"].to_numpy()
    clip = np.inf if scale_max is None else scale_max
    lower, upper = mean / std - clip, mean / std + clip
    x = adata.X
    if sp.issparse(x):
        np.clip(x.data, lower[x.indices], upper[x.indices], out=x.data)
        unclipped_zeros = int((lower > 0).sum())
        if unclipped_zeros:
            log.info("%d genes have a mean above scale_max std: their zeros are not clipped", unclipped_zeros)
    else:
        np.clip(x, lower, upper, out=x)
    return mean, std, clip


def integrate(adata, params, batch_key, seed):
    """Harmony (harmonypy) on the embedding per ``.obs[batch_key]``, if ``preprocess.integration`` asks (in place)."""
    if params["integration"] == "none":
        return
    if batch_key is None:
        raise InputError("preprocess.integration 'harmony' needs the dataset's batch_key (an .obs column)")
    corrected = harmonypy.run_harmony(
        adata.obsm["X_embedding"], adata.obs, [batch_key], random_state=seed, verbose=False
    )
    adata.obsm["X_embedding"] = np.asarray(corrected.Z_corr, dtype=np.float32)
    log.info("harmony: embedding integrated over %d batches of '%s'", adata.obs[batch_key].nunique(), batch_key)


def select_genes(x, genes, wanted):
    """Columns ``wanted`` of ``x`` (columns named ``genes``) in that order; genes not in ``genes`` are zero.

    One sparse selection matrix: sparse input stays sparse. A duplicated gene name counts once.
    """
    genes = pd.Index(genes)
    position = pd.Index(wanted).get_indexer(genes)
    keep = np.flatnonzero((position >= 0) & ~genes.duplicated())
    select = sp.csr_matrix(
        (np.ones(len(keep), dtype=np.float32), (keep, position[keep])), shape=(len(genes), len(wanted))
    )
    return x @ select


def _without_self(indices, distances, rows):
    """Drop each row's own index from its neighbour lists (or, where absent, the farthest neighbour)."""
    own = indices == np.asarray(rows)[:, None]
    own[~own.any(axis=1), -1] = True
    keep = ~own
    k = indices.shape[1] - 1
    return indices[keep].reshape(-1, k), distances[keep].reshape(-1, k)


def _search_space(x, metric, device):
    """``x`` as float32 on ``device``, the ``p`` of the Minkowski distance that ranks its rows as ``metric`` does,
    and the map from that distance to ``metric``: cosine (and correlation, on centred rows) is half the squared
    Euclidean distance between unit rows."""
    data = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    if metric == "manhattan":
        return data, 1.0, lambda d: d
    if metric in ("cosine", "correlation"):
        centred = data - data.mean(dim=1, keepdim=True) if metric == "correlation" else data
        return torch.nn.functional.normalize(centred, dim=1), 2.0, lambda d: d.square() / 2
    return data, 2.0, lambda d: d


def brute_force_neighbours(x, k, metric, device, rows=None):
    """Indices and distances of the ``k`` nearest other rows of ``x`` for every row, or for each of ``rows``, by
    brute force in torch on ``device``, ``SEARCH_BLOCK`` distances at a time: the exact search on CUDA."""
    space, p, to_metric = _search_space(x, metric, device)
    rows = torch.arange(len(space)) if rows is None else torch.as_tensor(rows)
    indices, distances = [], []
    for block in rows.split(max(1, SEARCH_BLOCK // len(space))):
        block = block.to(device)
        dist = torch.cdist(space[block], space, p=p)
        dist[torch.arange(len(block), device=device), block] = math.inf  # not its own neighbour
        nearest, found = dist.topk(k, dim=1, largest=False)
        indices.append(found.cpu())
        distances.append(to_metric(nearest).cpu())
    return torch.cat(indices).numpy(), torch.cat(distances).double().numpy()


def exact_neighbours(x, k, metric, threads=1, device="cpu", rows=None):
    """Indices and distances of the ``k`` nearest other rows of ``x`` for every row, or for each of ``rows`` (a
    sample): :func:`brute_force_neighbours` on CUDA, else scikit-learn's exact search on ``threads`` CPU cores
    (1.5× faster on CPU than the same brute force in torch: benchmarks/knn_graph.py)."""
    if torch.device(device).type != "cpu":
        return brute_force_neighbours(x, k, metric, device, rows)
    from sklearn.neighbors import NearestNeighbors

    if rows is None:
        index = NearestNeighbors(n_neighbors=k, metric=metric, n_jobs=threads).fit(x)
        distances, indices = index.kneighbors()
        return indices, distances
    index = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute", n_jobs=threads).fit(x)
    distances, indices = index.kneighbors(x[rows])
    return _without_self(indices, distances, rows)


def approximate_neighbours(x, k, metric, threads=1, seed=0):
    """Indices and distances of every row's ``k`` nearest other rows by nearest-neighbour descent (pynndescent,
    the search behind ``sc.pp.neighbors``), keeping the best ``k`` of ``SEARCH_BREADTH`` × k candidates per row
    with up to 60 candidates per round. On 1M simulated cells' 50 PCs (benchmarks/atlas_scale.py) recall is 0.97,
    where k candidates give 0.78 and scanpy's own settings 0.74 (noise-dominated PCs are hard to search)."""
    from pynndescent import NNDescent  # here, not at the top: it compiles its distances on import (~8 s a job)

    index = NNDescent(
        x, n_neighbors=round(SEARCH_BREADTH * k) + 1, metric=metric, max_candidates=60, random_state=seed,
        n_jobs=threads, low_memory=True,
    )  # fmt: skip
    indices, distances = index.neighbor_graph
    return _without_self(indices[:, : k + 1], distances[:, : k + 1], np.arange(len(x)))


def brute_force_query(x, queries, k, metric, device):
    """Indices and distances of the ``k`` nearest rows of ``x`` to each row of ``queries`` by brute force in torch
    on ``device`` (the exact search on CUDA)."""
    space, p, to_metric = _search_space(x, metric, device)
    targets = _search_space(queries, metric, device)[0]
    indices, distances = [], []
    for block in targets.split(max(1, SEARCH_BLOCK // len(space))):
        nearest, found = torch.cdist(block, space, p=p).topk(k, dim=1, largest=False)
        indices.append(found.cpu())
        distances.append(to_metric(nearest).cpu())
    return torch.cat(indices).numpy(), torch.cat(distances).double().numpy()


def query_neighbours(x, queries, k, metric, method="exact", threads=1, device="cpu", seed=0):
    """Indices and distances of the ``k`` nearest rows of ``x`` to each row of ``queries``, searched as the graph of
    ``x`` was built: ``exact`` (scikit-learn on CPU, brute force in torch on CUDA) or ``approximate`` (pynndescent)."""
    if method == "approximate":
        from pynndescent import NNDescent  # here, not at the top: it compiles its distances on import

        index = NNDescent(x, n_neighbors=round(SEARCH_BREADTH * k), metric=metric, max_candidates=60,
                          random_state=seed, n_jobs=threads, low_memory=True)  # fmt: skip
        indices, distances = index.query(np.asarray(queries, dtype=np.float32), k=k)
        return indices, distances.astype(np.float64)
    if torch.device(device).type != "cpu":
        return brute_force_query(x, queries, k, metric, device)
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k, metric=metric, n_jobs=threads).fit(x)
    distances, indices = index.kneighbors(queries)
    return indices, distances


def link_new_cells(x, x_new, graph, bandwidth, both_ways=False, threads=1, device="cpu"):
    """Edges from each new cell's ``graph.k`` nearest cells of ``x`` to it (new cells numbered after those of ``x``),
    found as ``graph`` (k, metric, method) built the graph of ``x`` and weighted by :func:`edge_kernel` with that
    graph's ``bandwidth``: a new cell receives messages and sends none, unless ``both_ways`` (new training cells).
    Returns ``(edge_index, edge_weight)`` tensors."""
    k = graph["k"]
    idx, dist = query_neighbours(x, x_new, k, graph["metric"], graph["method"], threads, device)
    new, old = np.repeat(np.arange(len(x_new)) + len(x), k), idx.ravel()
    edges, weight = np.vstack([old, new]), edge_kernel(dist.ravel(), bandwidth).astype(np.float32)
    if both_ways:  # the new cells' own edges first
        edges, weight = np.hstack([edges[::-1], edges]), np.concatenate([weight, weight])
    return torch.from_numpy(edges.astype(np.int64)), torch.from_numpy(weight)


def knn_recall(x, indices, k, metric, threads=1, seed=0, device="cpu"):
    """Fraction of the exact ``k`` nearest neighbours found in ``indices``, over ``RECALL_SAMPLE`` seeded rows."""
    rows = np.sort(np.random.default_rng(seed).choice(len(x), min(RECALL_SAMPLE, len(x)), replace=False))
    exact, _ = exact_neighbours(x, k, metric, threads, device, rows)
    return float((indices[rows][:, :, None] == exact[:, None, :]).any(axis=2).mean())


def knn_distances(x, k, metric, method="exact", threads=1, seed=0, device="cpu"):
    """Each row's ``k`` nearest other rows as a CSR distance matrix, the kernel bandwidth (the median of these
    distances) and the recall: ``exact`` (:func:`exact_neighbours` on ``device``, recall 1) or ``approximate``
    (pynndescent, recall measured against exact search on a sample of rows, :func:`knn_recall`)."""
    n = x.shape[0]
    if k >= n:
        raise InputError(f"graph.k = {k} must be smaller than the number of cells ({n})")
    if method == "exact":
        indices, distances = exact_neighbours(x, k, metric, threads, device)
        recall = 1.0
    else:
        indices, distances = approximate_neighbours(x, k, metric, threads, seed)
        recall = knn_recall(x, indices, k, metric, threads, seed, device)
        log.info("approximate kNN graph: recall %.4f of the exact %d nearest neighbours (%d cells sampled)",
                 recall, k, min(RECALL_SAMPLE, n))  # fmt: skip
    dist = sp.csr_matrix(
        (distances.ravel().astype(np.float64), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n)
    )
    return dist, float(np.median(dist.data) or 1.0), recall


def edge_kernel(distance, bandwidth):
    """Edge weights ``exp(-(d / bandwidth)²)``, kept above float32's smallest positive value (never 0)."""
    return np.maximum(np.exp(-((distance / bandwidth) ** 2)), np.finfo(np.float32).tiny)


def symmetric_edges(dist, bandwidth, symmetrize):
    """Undirected weighted edges of a kNN distance matrix: ``union`` keeps an edge found from either end
    (every node has degree ≥ k), ``mutual`` only edges found from both ends. Returns ``(edge_index,
    edge_weight)`` tensors with both directions of every edge."""
    weights = dist.copy()
    weights.data = edge_kernel(weights.data, bandwidth)
    adj = weights.maximum(weights.T) if symmetrize == "union" else weights.minimum(weights.T)
    adj = sp.coo_matrix(adj)
    edge_index = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    return edge_index, torch.from_numpy(adj.data.astype(np.float32))


def knn_graph(x, k, metric, symmetrize, method="exact"):
    """Undirected weighted kNN graph on the rows of ``x`` (:func:`knn_distances`, :func:`edge_kernel`,
    :func:`symmetric_edges`); no self-loops. Returns ``(edge_index, edge_weight)`` tensors."""
    dist, bandwidth, _ = knn_distances(x, k, metric, method)
    return symmetric_edges(dist, bandwidth, symmetrize)


def min_cells_per_class(val, test):
    """Fewest cells a class needs so that each split gets at least one."""
    return max(3, math.ceil(1 / val), math.ceil(1 / test))


def stratified_split(labels, val, test, seed):
    """Seeded stratified train/val/test assignment (an array of split names)."""
    labels = np.asarray(labels)
    counts = pd.Series(labels).value_counts()
    need = min_cells_per_class(val, test)
    listed = too_few(counts, need)
    if listed:
        raise InputError(
            f"classes with too few cells to split (need {need} for split.val = {val}, split.test = {test}): {listed}"
        )
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    rest, test_idx = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed)
    split = np.empty(len(labels), dtype=object)
    split[train_idx], split[val_idx], split[test_idx] = "train", "val", "test"
    return split


def obs_split(labels, obs, column, test_values, val, seed):
    """Cells whose ``obs[column]`` is one of ``test_values`` (e.g. donors) are the test set; ``val`` of the
    others are drawn stratified for validation, the rest train (an array of split names)."""
    labels = np.asarray(labels)
    if column not in obs:
        raise InputError(
            f"split.column '{column}' is not in .obs; available columns: {', '.join(map(str, obs.columns))}"
        )
    groups = obs[column].astype(str).to_numpy()
    values = [str(v) for v in test_values]
    present = sorted(set(groups))
    absent = [v for v in values if v not in present]
    if absent:
        raise InputError(
            f"split.test: {', '.join(map(repr, absent))} not found in .obs column '{column}'; its values: "
            f"{', '.join(present[:20])}{' …' if len(present) > 20 else ''}"
        )
    test = np.isin(groups, values)
    if not test.any():
        raise InputError(f"split.test: no labelled cell has {column} in {values}")
    need = max(2, math.ceil(1 / val))
    counts = pd.Series(labels[~test]).value_counts().reindex(np.unique(labels), fill_value=0)
    listed = too_few(counts, need)
    if listed:
        raise InputError(
            f"split.test holds out {column} {values}: classes left with too few cells to train and validate on "
            f"(need {need} for split.val = {val}): {listed}"
        )
    from sklearn.model_selection import train_test_split

    rest = np.flatnonzero(~test)
    train_idx, val_idx = train_test_split(rest, test_size=val, stratify=labels[rest], random_state=seed)
    split = np.full(len(labels), "test", dtype=object)
    split[train_idx], split[val_idx] = "train", "val"
    return split


def held_out_batches(batches, test, seed):
    """Batches held out for testing (``split.method: batch``): ``test`` as listed, or that fraction of the
    batches (at least one, leaving one to train on) drawn with ``seed``."""
    if isinstance(test, list):
        return [str(v) for v in test]
    values = np.unique(np.asarray(batches, dtype=str))
    if len(values) < 2:
        raise InputError(f"split.method 'batch' needs at least two batches; the data have {len(values)}")
    n = min(max(1, round(test * len(values))), len(values) - 1)
    return sorted(np.random.default_rng(seed).choice(values, n, replace=False))


def assign_splits(labels, obs, split, seed, batch_key=None):
    """Split name of every cell: ``split.method`` ``obs`` (:func:`obs_split`), ``batch`` (whole batches of
    ``.obs[batch_key]`` held out, :func:`held_out_batches`) or a random stratified split (:func:`stratified_split`)
    of the labelled cells; cells without a label are ``unlabeled``."""
    labelled = labels != UNLABELED
    assignment = np.full(len(labels), "unlabeled", dtype=object)
    method = split.get("method")
    if method == "batch" and batch_key is None:
        raise InputError("split.method 'batch' needs the dataset's batch_key (an .obs column)")
    if method in ("obs", "batch"):
        column = split["column"] if method == "obs" else batch_key
        test = split["test"]
        if method == "batch":
            test = held_out_batches(obs[column][labelled].astype(str), test, seed)
            log.info("split: batches %s of '%s' held out for testing", ", ".join(test), column)
        assignment[labelled] = obs_split(labels[labelled], obs[labelled], column, test, split["val"], seed)
    else:
        assignment[labelled] = stratified_split(labels[labelled], split["val"], split["test"], seed)
    return assignment


def build_cell_graph(adata, label_key, graph, split, seed, batch_key=None, threads=1, device="cpu"):
    """Graph tensors (features = the embedding, labels, weighted kNN edges, masks), the per-cell table (with a
    ``batch`` column given ``batch_key``) and the graph's part of the reference (class names, ``k``, ``metric``,
    kernel ``bandwidth``, kNN ``method`` and its measured ``recall``).

    Cells without a label have ``y = -1``, split ``unlabeled`` and no mask. The split is ``.obs[SPLIT]`` where
    preprocessing assigned it, else assigned here.
    """
    x = adata.obsm["X_embedding"]
    labels = adata.obs[label_key].to_numpy().astype(object)
    labelled = labels != UNLABELED
    classes = np.unique(labels[labelled]).astype(str)
    if SPLIT in adata.obs:
        assignment = adata.obs[SPLIT].to_numpy().astype(object)
    else:
        assignment = assign_splits(labels, adata.obs, split, seed, batch_key)
    dist, bandwidth, recall = knn_distances(x, graph["k"], graph["metric"], graph["method"], threads, seed, device)
    edge_index, edge_weight = symmetric_edges(dist, bandwidth, graph["symmetrize"])
    y = np.where(labelled, np.searchsorted(classes, labels.astype(str)), -1)
    tensors = {
        "x": torch.from_numpy(x),
        "y": torch.from_numpy(y),
        "edge_index": edge_index,
        "edge_weight": edge_weight,
        **{f"{s}_mask": torch.from_numpy(assignment == s) for s in SPLITS},
    }
    cells = pd.DataFrame({"cell": adata.obs_names, "label": labels, "split": assignment})
    if batch_key is not None:
        cells["batch"] = adata.obs[batch_key].astype(str).to_numpy()
    fitted = {
        "classes": classes,
        "k": np.int64(graph["k"]),
        "metric": np.str_(graph["metric"]),
        "bandwidth": np.float64(bandwidth),
        "knn_method": np.str_(graph["method"]),
        "knn_recall": np.float64(recall),
    }
    return tensors, cells, fitted


def check_batch_key(adata, batch_key, source):
    """Fail unless ``batch_key`` (when given) is an .obs column of ``source`` without missing values."""
    if batch_key is None:
        return
    if batch_key not in adata.obs:
        raise InputError(
            f"'{source}': batch_key '{batch_key}' not in .obs; available columns: "
            f"{', '.join(map(str, adata.obs.columns))}"
        )
    if adata.obs[batch_key].isna().any():
        raise InputError(
            f"'{source}': batch_key '{batch_key}' is missing for {int(adata.obs[batch_key].isna().sum())} cells"
        )


def replicate_split(data, cells, classes, replicate):
    """A prepared graph (``data``, ``cells``, ``classes``) with one replicate's split (workflow params ``index``,
    ``seed``, ``split``): the prepared one, or with ``resplit`` one drawn anew with the replicate's seed (``obs``
    or listed batches: the held-out test cells stay and validation is drawn anew; a fraction of batches: the
    held-out batches are drawn anew)."""
    split = replicate["split"]
    if split is None:
        return data, cells, classes
    labels, assignment = cells["label"].to_numpy(object), cells["split"].to_numpy(object).copy()
    labelled = labels != UNLABELED
    method, seed = split.get("method"), replicate["seed"]
    if method == "batch" and not isinstance(split["test"], list):
        test = held_out_batches(cells["batch"][labelled], split["test"], seed)
        assignment[labelled] = obs_split(labels[labelled], cells[labelled], "batch", test, split["val"], seed)
    elif method in ("obs", "batch"):
        held_out = pd.DataFrame({"split": assignment[labelled]})
        assignment[labelled] = obs_split(labels[labelled], held_out, "split", ["test"], split["val"], seed)
    else:
        assignment[labelled] = stratified_split(labels[labelled], split["val"], split["test"], seed)
    for s in SPLITS:
        setattr(data, f"{s}_mask", torch.from_numpy(assignment == s))
    log.info("replicate %d: split drawn with seed %d", replicate["index"], seed)
    return data, cells.assign(split=assignment), classes


def read_cell_table(path):
    """A prepared dataset's per-cell table (``cells.tsv``: cell, label, split, batch) with labels as written."""
    return pd.read_csv(path, sep="\t", dtype={"cell": str, "label": str, "batch": str}, keep_default_na=False)


def load_cell_graph(graph_path, cells_path, pyg=True):
    """Read a prepared graph back as a PyG ``Data`` (``pyg=False``: a namespace of the same tensors, for the jobs
    that train no GNN: torch_geometric takes ~3 s to import), the per-cell table and the class names.

    Labels are read as written (``NA`` stays a label); a cell without one has the empty label ``UNLABELED``.
    """
    cells = read_cell_table(cells_path)
    labels = cells["label"].to_numpy()
    if pyg:
        from torch_geometric.data import Data  # local, as the docstring says

        graph = Data(**load_tensors(graph_path))
    else:
        graph = SimpleNamespace(**load_tensors(graph_path))
    return graph, cells, np.unique(labels[labels != UNLABELED])
