import numpy as np
import pytest

from dlbio.evaluate.integration import (
    BATCH_CORRECTION,
    BIO_CONSERVATION,
    METRICS,
    graph_connectivity,
    isolated_labels,
    nearest_neighbors,
    scib_metrics,
    simpson_index,
    subsample,
)


def blobs(n=900, n_labels=3, n_batches=3, batch_shift=0.0, label_spread=10.0, seed=0):
    """Gaussian blobs per label in 8 dimensions, each batch moved by ``batch_shift`` along its own axis."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_labels), n // n_labels)
    batches = np.tile(np.arange(n_batches), n // n_batches)
    x = rng.normal(0, 1, (len(labels), 8))
    x[:, :n_labels] += label_spread * np.eye(n_labels)[labels]
    x[:, n_labels : n_labels + n_batches] += batch_shift * np.eye(n_batches)[batches]
    return x, labels.astype(str), np.char.add("donor", batches.astype(str))


def test_separated_labels_with_mixed_batches_score_near_one():
    x, labels, batches = blobs()
    scores = scib_metrics(x, labels, batches)
    assert set(METRICS) <= set(scores) and (scores["n_cells"], scores["n_labels"], scores["n_batches"]) == (900, 3, 3)
    assert scores["nmi"] == pytest.approx(1) and scores["ari"] == pytest.approx(1) and scores["clisi"] == 1
    assert scores["silhouette_label"] > 0.8 and scores["isolated_labels"] == pytest.approx(scores["silhouette_label"])
    assert scores["silhouette_batch"] > 0.95 and scores["graph_connectivity"] > 0.95
    assert scores["ilisi"] > 0.75  # 89 neighbours of 3 equal batches: the median LISI falls a little short of 3
    bio, batch = (np.mean([scores[name] for name in names]) for names in (BIO_CONSERVATION, BATCH_CORRECTION))
    assert scores["bio_conservation"] == pytest.approx(bio) and scores["batch_correction"] == pytest.approx(batch)
    assert scores["total"] == pytest.approx(0.6 * bio + 0.4 * batch)


def test_an_embedding_split_by_batch_scores_low_batch_correction():
    x, labels, batches = blobs(batch_shift=30.0)
    scores = scib_metrics(x, labels, batches)
    assert scores["ilisi"] == pytest.approx(0, abs=1e-6) and scores["silhouette_batch"] < 0.2
    assert scores["graph_connectivity"] < 0.5  # each label falls apart into its batches
    assert scores["batch_correction"] < 0.25 and scores["total"] < scib_metrics(*blobs())["total"]


def test_random_labels_score_low_bio_conservation():
    x, labels, batches = blobs()
    shuffled = np.random.default_rng(1).permutation(labels)
    scores = scib_metrics(x, shuffled, batches)
    assert scores["nmi"] < 0.05 and abs(scores["ari"]) < 0.05
    assert scores["silhouette_label"] == pytest.approx(0.5, abs=0.05) and scores["clisi"] < 0.2


def test_without_batches_the_batch_metrics_are_nan_and_total_is_bio():
    x, labels, _ = blobs()
    scores = scib_metrics(x, labels, None)
    assert all(np.isnan(scores[name]) for name in (*BATCH_CORRECTION, "batch_correction"))
    assert scores["total"] == scores["bio_conservation"] > 0.9 and scores["n_batches"] == 0
    assert not np.isnan(scores["isolated_labels"])  # one batch: every label is isolated
    assert np.isnan(scib_metrics(x, labels, np.full(len(labels), "one"))["ilisi"])


def test_isolated_labels_scores_the_labels_in_fewest_batches():
    labels = np.array(["a", "a", "b", "b", "c", "c"])
    batches = np.array(["1", "2", "1", "2", "1", "1"])  # c only in batch 1
    silhouettes = np.array([0.1, 0.1, 0.2, 0.2, 0.9, 0.7])
    assert isolated_labels(silhouettes, labels, batches) == pytest.approx(0.8)


def test_graph_connectivity_is_the_largest_component_share_per_label():
    # cells 0-2 (label a) point at each other; of label b, 3-4 pair up and 5 points only at cell 0 (label a)
    indices = np.array([[0, 1], [1, 2], [2, 0], [3, 4], [4, 3], [5, 0]])
    labels = np.array(["a", "a", "a", "b", "b", "b"])
    assert graph_connectivity(indices, labels) == pytest.approx((1 + 2 / 3) / 2)


def test_simpson_index_calibrates_to_the_perplexity():
    # equidistant neighbours (the kernel is flat whatever beta), itself masked out: each cell sees the 3 others,
    # 2 of the other code and 1 of its own
    distances, indices = np.ones((4, 4)), np.array([[(i + j) % 4 for j in range(4)] for i in range(4)])
    simpson = simpson_index(distances, indices, np.array([0, 1, 0, 1]), perplexity=2)
    assert np.allclose(simpson, (1 / 3) ** 2 + (2 / 3) ** 2)
    x, labels, _ = blobs(n=300)
    distances, indices = nearest_neighbors(x, 30)
    assert indices.shape == (300, 30) and (indices[:, 0] == np.arange(300)).all()  # itself first
    assert np.allclose(simpson_index(distances, indices, np.zeros(300, int), perplexity=10), 1)


def test_large_data_are_subsampled_with_the_seed():
    assert (subsample(10, 20, 0) == np.arange(10)).all()
    drawn = subsample(1000, 100, 3)
    assert len(np.unique(drawn)) == 100 and (np.diff(drawn) > 0).all() and (drawn == subsample(1000, 100, 3)).all()
    x, labels, batches = blobs(n=1500)
    scores = scib_metrics(x, labels, batches, max_cells=600)
    assert scores["n_cells"] == 600 and scores["nmi"] == pytest.approx(1)
    assert scores == scib_metrics(x, labels, batches, max_cells=600)


def test_small_data_use_every_cell_as_neighbour():
    x, labels, batches = blobs(n=60)
    scores = scib_metrics(x, labels, batches)
    assert scores["n_cells"] == 60 and scores["clisi"] > 0.95 and 0.5 < scores["ilisi"] <= 1
