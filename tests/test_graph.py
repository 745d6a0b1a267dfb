"""kNN graph construction and the stratified split."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from dlbio.data import cells
from dlbio.data.cells import (
    brute_force_neighbours,
    brute_force_query,
    exact_neighbours,
    knn_graph,
    min_cells_per_class,
    query_neighbours,
    stratified_split,
)
from dlbio.errors import InputError


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 10)).astype(np.float32)


def as_dense(edge_index, edge_weight, n):
    adj = torch.zeros(n, n)
    adj[edge_index[0], edge_index[1]] = edge_weight
    return adj


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_union_graph_is_symmetric_without_self_loops_and_degree_at_least_k(points, metric):
    k = 7
    edge_index, edge_weight = knn_graph(points, k, metric=metric, symmetrize="union")
    adj = as_dense(edge_index, edge_weight, len(points))
    assert torch.equal(adj, adj.T)
    assert not adj.diagonal().any()
    assert (edge_index[0] != edge_index[1]).all()
    assert ((adj > 0).sum(1) >= k).all()
    assert ((edge_weight > 0) & (edge_weight <= 1)).all()
    assert edge_index.shape[1] == len(torch.unique(edge_index[0] * len(points) + edge_index[1]))


def test_neighbours_are_the_exact_nearest(points):
    """Every row's 5 nearest points by brute force are its neighbours, and the union graph is exactly that relation
    made symmetric."""
    edge_index, _ = knn_graph(points, 5, "euclidean", "union")
    n = len(points)
    dist = np.linalg.norm(points[:, None].astype(np.float64) - points[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1)[:, :5]
    adjacency = np.zeros((n, n), dtype=bool)
    adjacency[edge_index[0].numpy(), edge_index[1].numpy()] = True
    assert adjacency[np.arange(n)[:, None], nearest].all()
    knn = np.zeros((n, n), dtype=bool)
    knn[np.arange(n)[:, None], nearest] = True
    assert np.array_equal(adjacency, knn | knn.T)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "correlation"])
def test_brute_force_search_equals_scikit_learn_for_every_metric(points, metric, monkeypatch):
    monkeypatch.setattr(cells, "SEARCH_BLOCK", 1000)  # blocks of 3 query rows
    indices, distances = brute_force_neighbours(points, 6, metric, "cpu")
    expected_distances, expected = NearestNeighbors(n_neighbors=6, metric=metric).fit(points).kneighbors()
    assert np.array_equal(indices, expected) and np.allclose(distances, expected_distances, atol=1e-5)
    rows = np.array([0, 17, 299])
    sample, sample_distances = brute_force_neighbours(points, 6, metric, "cpu", rows)
    assert np.array_equal(sample, expected[rows]) and np.allclose(sample_distances, expected_distances[rows], atol=1e-5)


def test_mutual_graph_is_a_symmetric_subset_of_union(points):
    union, _ = knn_graph(points, 7, "euclidean", symmetrize="union")
    mutual, weight = knn_graph(points, 7, "euclidean", symmetrize="mutual")
    adj = as_dense(mutual, weight, len(points))
    assert torch.equal(adj, adj.T)
    pairs = lambda ei: set(map(tuple, ei.T.tolist()))  # noqa: E731
    assert pairs(mutual) < pairs(union)


def test_closer_neighbours_get_larger_weights():
    x = np.array([[0.0], [1.0], [3.0], [10.0]])
    edge_index, weight = knn_graph(x, 1, "euclidean", "union")
    w = {tuple(e): float(v) for e, v in zip(edge_index.T.tolist(), weight)}
    assert w[(0, 1)] > w[(1, 2)] > w[(2, 3)]


def test_k_not_smaller_than_cell_count_is_an_error(points):
    with pytest.raises(InputError, match=r"graph.k = 300 must be smaller than the number of cells \(300\)"):
        knn_graph(points, 300, "euclidean", "union")


def labels_with_counts(counts):
    return np.repeat([f"c{i}" for i in range(len(counts))], counts)


def test_split_is_seeded_and_stratified():
    labels = labels_with_counts([100, 50, 20])
    a = stratified_split(labels, 0.2, 0.2, seed=1)
    assert np.array_equal(a, stratified_split(labels, 0.2, 0.2, seed=1))
    assert not np.array_equal(a, stratified_split(labels, 0.2, 0.2, seed=2))
    for c, n in zip(["c0", "c1", "c2"], [100, 50, 20]):
        share = {s: np.sum((labels == c) & (a == s)) / n for s in ("train", "val", "test")}
        assert share["test"] == pytest.approx(0.2, abs=0.05)
        assert share["val"] == pytest.approx(0.2, abs=0.05)
        assert share["train"] == pytest.approx(0.6, abs=0.05)


def test_every_class_reaches_every_split_at_the_minimum_size():
    need = min_cells_per_class(0.2, 0.2)
    labels = labels_with_counts([200, need, need])
    split = stratified_split(labels, 0.2, 0.2, seed=0)
    for c in ("c1", "c2"):
        assert set(split[labels == c]) == {"train", "val", "test"}


def test_class_too_small_to_split_is_named():
    labels = labels_with_counts([100, 50, 2])
    with pytest.raises(InputError, match=r"'c2' \(2\)"):
        stratified_split(labels, 0.2, 0.2, seed=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_exact_search_on_cuda_equals_cpu(points):
    indices, distances = exact_neighbours(points, 6, "euclidean")
    on_gpu, gpu_distances = exact_neighbours(points, 6, "euclidean", device="cuda")
    assert np.array_equal(on_gpu, indices) and np.allclose(gpu_distances, distances, atol=1e-4)


def test_query_neighbours_in_torch_equal_scikit_learn():
    x, queries = np.random.default_rng(4).normal(size=(200, 4)), np.random.default_rng(5).normal(size=(30, 4))
    for metric in ("euclidean", "cosine", "correlation", "manhattan"):
        expected = query_neighbours(x, queries, 5, metric)
        found = brute_force_query(x, queries, 5, metric, "cpu")
        assert np.array_equal(found[0], expected[0]) and np.allclose(found[1], expected[1], atol=1e-5), metric
