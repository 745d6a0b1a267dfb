"""scIB integration metrics of a cell embedding, under scIB's names, computed with numpy, scipy and
scikit-learn (scib-metrics needs jax, which the lock does not carry).

The definitions follow scib-metrics (Luecken et al. 2022, as implemented by YosefLab/scib-metrics 0.5):

- bio conservation: ``nmi`` and ``ari`` of k-means clusters (k = the number of labels) against the labels;
  ``silhouette_label``, the label ASW rescaled to (ASW + 1) / 2; ``isolated_labels``, the rescaled ASW of
  the labels found in the fewest batches; ``clisi``, (n_labels − median LISI of labels) / (n_labels − 1);
- batch correction: ``silhouette_batch``, per label the mean of 1 − |batch silhouette|, averaged over
  labels; ``ilisi``, (median LISI of batches − 1) / (n_batches − 1); ``graph_connectivity``, per label the
  share of its cells in the largest strongly connected component of the 15-NN graph restricted to it;
- totals: ``bio_conservation`` and ``batch_correction`` are the means of their metrics, ``total`` =
  0.6 · bio + 0.4 · batch (scIB's weights); without batches the batch metrics are NaN and ``total`` = bio.

LISI weighs each cell's 90 exact Euclidean nearest neighbours (itself included and masked) by
exp(−β · distance), β bisected to perplexity 30 (k // 3), as scib-metrics does. Two differences: k-means keeps the best
of 4 k-means++ starts (scib-metrics: one), and kNN searches are exact (scib-metrics: pynndescent).
Silhouettes are quadratic in the cells, so at most ``max_cells`` (20,000) cells drawn with ``seed`` are
scored (about 10 s on one core for 20,000 cells of 30 dimensions, whatever the atlas' size).
"""

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_samples
from sklearn.neighbors import NearestNeighbors

log = logging.getLogger(__name__)

MAX_CELLS = 20_000
LISI_NEIGHBORS = 90  # perplexity = LISI_NEIGHBORS // 3 = 30
GRAPH_NEIGHBORS = 15
KMEANS_STARTS = 4
BIO_CONSERVATION = ("nmi", "ari", "silhouette_label", "isolated_labels", "clisi")
BATCH_CORRECTION = ("silhouette_batch", "ilisi", "graph_connectivity")
TOTALS = ("bio_conservation", "batch_correction", "total")
METRICS = BIO_CONSERVATION + BATCH_CORRECTION + TOTALS


def subsample(n_cells, max_cells, seed):
    """Sorted indices of at most ``max_cells`` of ``n_cells`` cells, drawn uniformly with ``seed``."""
    if n_cells <= max_cells:
        return np.arange(n_cells)
    return np.sort(np.random.default_rng(seed).choice(n_cells, max_cells, replace=False))


def nearest_neighbors(embedding, k):
    """Exact Euclidean ``(distances, indices)`` of every cell's ``k`` nearest cells, itself included."""
    k = min(k, len(embedding))
    return NearestNeighbors(n_neighbors=k).fit(embedding).kneighbors(embedding)


def simpson_index(distances, indices, codes, perplexity, tol=1e-5, max_tries=50):
    """Per cell, the Simpson index of ``codes`` (integers) over its neighbours weighted by a Gaussian
    kernel ``exp(-beta · distance)`` whose ``beta`` is bisected until the weights' entropy is
    log(``perplexity``); the cell itself is masked out. NaN where every weight underflows."""
    n, _ = distances.shape
    keep = indices != np.arange(n)[:, None]
    target = np.log(perplexity)

    def weights(beta):
        p = np.exp(-distances * beta[:, None]) * keep
        total = p.sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = np.where(total > 0, np.log(total) + beta * (distances * p).sum(1) / total, 0.0)
            p = np.where(total[:, None] > 0, p / total[:, None], 0.0)
        return entropy, p

    beta = np.ones(n)
    low, high = np.full(n, -np.inf), np.full(n, np.inf)
    entropy, p = weights(beta)
    for _ in range(max_tries):
        diff = entropy - target
        active = np.abs(diff) >= tol
        if not active.any():
            break
        up = diff > 0
        new_beta = np.where(
            up,
            np.where(np.isinf(high), beta * 2, (beta + high) / 2),
            np.where(np.isinf(low), beta / 2, (beta + low) / 2),
        )
        low = np.where(active & up, beta, low)
        high = np.where(active & ~up, beta, high)
        beta = np.where(active, new_beta, beta)
        rows = np.flatnonzero(active)
        entropy[rows], p[rows] = (part[rows] for part in weights(beta))
    n_codes = int(codes.max()) + 1
    share = sp.csr_matrix(
        (p.ravel(), (np.repeat(np.arange(n), p.shape[1]), codes[indices].ravel())), shape=(n, n_codes)
    )
    simpson = np.asarray(share.multiply(share).sum(1)).ravel()
    return np.where(entropy == 0, np.nan, simpson)


def lisi(distances, indices, values):
    """Local inverse Simpson index of ``values`` per cell, perplexity = number of neighbours // 3."""
    codes = pd.Categorical(values).codes.astype(np.int64)
    return 1 / simpson_index(distances, indices, codes, perplexity=np.floor(distances.shape[1] / 3))


def clisi(distances, indices, labels):
    """cLISI: (n_labels − median LISI of the labels) / (n_labels − 1); 1 = neighbourhoods of one label."""
    n = len(np.unique(labels))
    return float((n - np.nanmedian(lisi(distances, indices, labels))) / (n - 1))


def ilisi(distances, indices, batches):
    """iLISI: (median LISI of the batches − 1) / (n_batches − 1); 1 = every batch equally mixed."""
    n = len(np.unique(batches))
    return float((np.nanmedian(lisi(distances, indices, batches)) - 1) / (n - 1))


def label_silhouettes(embedding, labels):
    """Per-cell silhouette of the labels, rescaled to (s + 1) / 2 (scikit-learn's silhouette_samples)."""
    return (silhouette_samples(embedding, labels) + 1) / 2


def isolated_labels(silhouettes, labels, batches):
    """Mean over the labels found in the fewest batches of their cells' rescaled label silhouette."""
    per_label = pd.DataFrame({"label": labels, "batch": batches}).groupby("label")["batch"].nunique()
    isolated = per_label.index[per_label == per_label.min()]
    return float(np.mean([silhouettes[labels == label].mean() for label in isolated]))


def silhouette_batch(embedding, labels, batches):
    """Batch ASW: per label, the mean of 1 − |silhouette of the batches| over its cells, averaged over the
    labels found in 2 or more batches (and not one cell per batch); NaN when no label is."""
    scores = []
    for label in np.unique(labels):
        mask = labels == label
        n_batches = len(np.unique(batches[mask]))
        if n_batches == 1 or n_batches == mask.sum():
            continue
        scores.append(np.mean(1 - np.abs(silhouette_samples(embedding[mask], batches[mask]))))
    return float(np.mean(scores)) if scores else np.nan


def nmi_ari_kmeans(embedding, labels, seed):
    """NMI and ARI of k-means clusters (k = the number of labels, best of 4 k-means++ starts)."""
    k = len(np.unique(labels))
    clusters = KMeans(n_clusters=k, n_init=KMEANS_STARTS, random_state=seed).fit_predict(embedding)
    return (
        float(normalized_mutual_info_score(labels, clusters, average_method="arithmetic")),
        float(adjusted_rand_score(labels, clusters)),
    )


def graph_connectivity(indices, labels):
    """Mean over labels of the share of the label's cells in the largest strongly connected component of
    the directed kNN graph (``indices``) restricted to that label."""
    n, k = indices.shape
    graph = sp.csr_matrix((np.ones(n * k), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    shares = []
    for label in np.unique(labels):
        mask = labels == label
        _, components = connected_components(graph[mask][:, mask], directed=True, connection="strong")
        shares.append(np.bincount(components).max() / mask.sum())
    return float(np.mean(shares))


def scib_metrics(embedding, labels, batches=None, seed=0, max_cells=MAX_CELLS):
    """scIB's metrics of an ``embedding`` (cells × dimensions) with cell ``labels`` and ``batches`` (None:
    no batches, so the batch-correction metrics are NaN and ``total`` is the bio conservation): a dict of
    :data:`METRICS` to floats, plus ``n_cells`` scored (at most ``max_cells``, drawn with ``seed``),
    ``n_labels`` and ``n_batches``. Pass labelled cells only; fewer than 2 labels give NaN bio metrics."""
    embedding = np.asarray(embedding, dtype=np.float64)
    labels = np.asarray(labels, dtype=str)
    keep = subsample(len(labels), max_cells, seed)
    embedding, labels = embedding[keep], labels[keep]
    batches = None if batches is None else np.asarray(batches, dtype=str)[keep]
    n_labels = len(np.unique(labels))
    n_batches = 0 if batches is None else len(np.unique(batches))
    scores = dict.fromkeys(METRICS, np.nan)
    distances, indices = nearest_neighbors(embedding, LISI_NEIGHBORS)
    if 2 <= n_labels < len(labels):
        silhouettes = label_silhouettes(embedding, labels)
        scores["nmi"], scores["ari"] = nmi_ari_kmeans(embedding, labels, seed)
        scores["silhouette_label"] = float(silhouettes.mean())
        one_batch = np.zeros(len(labels)) if batches is None else batches
        scores["isolated_labels"] = isolated_labels(silhouettes, labels, one_batch)
        scores["clisi"] = clisi(distances, indices, labels)
    if n_batches >= 2:
        scores["silhouette_batch"] = silhouette_batch(embedding, labels, batches)
        scores["ilisi"] = ilisi(distances, indices, batches)
        scores["graph_connectivity"] = graph_connectivity(indices[:, :GRAPH_NEIGHBORS], labels)
    bio = _mean(scores[name] for name in BIO_CONSERVATION)
    batch = _mean(scores[name] for name in BATCH_CORRECTION)
    scores["bio_conservation"], scores["batch_correction"] = bio, batch
    scores["total"] = float(bio if np.isnan(batch) else 0.6 * bio + 0.4 * batch)
    return scores | {"n_cells": len(labels), "n_labels": n_labels, "n_batches": n_batches}


def _mean(values):
    """Mean of the values that are not NaN (NaN when none is), as scib-metrics' totals skip missing metrics."""
    values = [value for value in values if not np.isnan(value)]
    return float(np.mean(values)) if values else np.nan


def score_cells(embedding, cells, seed=0, max_cells=MAX_CELLS):
    """:func:`scib_metrics` of a prepared cells dataset as a one-row table: its ``embedding`` (the graph's
    ``x``) and its ``cells.tsv`` table (``label``, and ``batch`` when the dataset has a batch_key); only
    labelled cells (label not empty) are scored."""
    labelled = (cells["label"] != "").to_numpy()  # dlbio.data.cells.UNLABELED (that module imports torch)
    batches = cells["batch"].to_numpy()[labelled] if "batch" in cells else None
    scores = scib_metrics(
        np.asarray(embedding)[labelled], cells["label"].to_numpy()[labelled], batches, seed, max_cells
    )
    log.info(
        "scIB metrics of %d of %d labelled cells: %s",
        scores["n_cells"],
        labelled.sum(),
        ", ".join(f"{name} {scores[name]:.3f}" for name in METRICS),
    )
    return pd.DataFrame([scores])
