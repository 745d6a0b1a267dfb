"""Temperature scaling, expected calibration error, reliability diagrams and conformal prediction sets."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dlbio.evaluate.calibration import (
    ProbabilityCalibration,
    binary_error,
    calibration_error,
    plot_reliability,
    set_labels,
    temper,
    top_label,
    two_class,
)


def sampled(n=4000, k=4, sharpen=3.0, seed=0):
    """Labels drawn from softmax(z) and a model that says softmax(sharpen · z): over-confident for sharpen > 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    truth = torch.softmax(torch.tensor(z), 1).numpy()
    labels = (truth.cumsum(1) < rng.random((n, 1))).sum(1)
    return torch.softmax(torch.tensor(sharpen * z), 1).numpy(), labels


def test_temperature_undoes_known_over_confidence_and_keeps_the_ranking():
    proba, labels = sampled()
    val, test = slice(0, 2000), slice(2000, None)
    calibration = ProbabilityCalibration.fit(proba[val], labels[val])
    calibrated = calibration.probabilities(proba[test])
    assert calibration.temperature == pytest.approx(3.0, rel=0.1)
    before, after = calibration_error(proba[test], labels[test]), calibration_error(calibrated, labels[test])
    assert before > 0.15 and after < 0.05
    assert np.array_equal(calibrated.argmax(1), proba[test].argmax(1))  # accuracy unchanged
    assert np.allclose(calibrated.sum(1), 1)


def test_temperature_lowers_ece_of_an_over_confident_trained_net():
    """A real net trained far past its best epoch on noisy labels is over-confident on new samples; the
    temperature fitted on validation samples brings its test ECE down and leaves its predictions alone."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (1200, 2)).astype(np.float32)
    y = (x[:, 0] + rng.normal(0, 1, 1200) > 0).astype(np.int64)  # 1 in 4 labels is "wrong"
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03)
    train = torch.from_numpy(x[:100]), torch.from_numpy(y[:100])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    try:
        for _ in range(400):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(train[0]), train[1]).backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        proba = torch.softmax(net(torch.from_numpy(x)), 1).numpy()
    val, test = slice(200, 700), slice(700, None)
    calibration = ProbabilityCalibration.fit(proba[val], y[val])
    calibrated = calibration.probabilities(proba[test])
    before, after = calibration_error(proba[test], y[test]), calibration_error(calibrated, y[test])
    assert calibration.temperature > 3 and before > 0.15
    assert after < before / 2
    assert roc_auc_score(y[test], calibrated[:, 1]) == pytest.approx(roc_auc_score(y[test], proba[test, 1]))


def test_binary_probabilities_and_a_forest_zero():
    p = np.array([0.0, 0.2, 0.9, 1.0])
    assert np.allclose(two_class(p), [[1, 0], [0.8, 0.2], [0.1, 0.9], [0, 1]])
    assert np.allclose(temper(two_class(p), 1.0)[:, 1], p)
    hotter = temper(two_class(p), 2.0)[:, 1]
    assert np.all(np.diff(hotter) > 0) and 0 < hotter[0] < 0.01 and hotter[2] == pytest.approx(0.75)
    assert ProbabilityCalibration.fit(np.zeros((0, 2)), []).temperature == 1.0


def test_ece_equals_torchmetrics_binned_the_same_way():
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    proba, labels = sampled(n=500, sharpen=2.0, seed=1)
    proba[:5] = np.eye(4)[labels[:5]]  # confidence exactly 1, alone in the last bin
    expected = multiclass_calibration_error(torch.tensor(proba), torch.tensor(labels), 4, n_bins=15, norm="l1")
    assert calibration_error(proba, labels) == pytest.approx(float(expected), abs=1e-6)
    p, y = proba[:, 0], (labels == 0).astype(int)
    expected = binary_calibration_error(torch.tensor(p), torch.tensor(y), n_bins=15, norm="l1")
    assert binary_error(p, y) == pytest.approx(float(expected), abs=1e-6)
    confidence, right = top_label(proba, labels)
    assert binary_error(confidence, right) == pytest.approx(calibration_error(proba, labels), abs=1e-12)
    assert np.isnan(binary_error([], [])) and np.isnan(calibration_error(np.zeros((0, 4)), []))


def test_conformal_sets_cover_the_level_on_new_samples():
    proba, labels = sampled(n=6000, sharpen=1.0, seed=2)
    val, test = slice(0, 1000), slice(1000, None)
    calibration = ProbabilityCalibration.fit(proba[val], labels[val])
    for level in (0.8, 0.9, 0.95):
        members = calibration.sets(calibration.probabilities(proba[test]), level)
        coverage = members[np.arange(5000), labels[test]].mean()
        assert level - 0.02 < coverage < level + 0.05
        assert members.any(1).all()  # the top class at least
    assert members.sum(1).mean() < 4  # smaller than every class


def test_a_classifier_surer_than_the_level_gets_its_top_class_not_empty_sets():
    proba = np.array([[0.99, 0.01], [0.6, 0.4], [0.2, 0.8]])
    calibration = ProbabilityCalibration(1.0, np.full(20, 0.01))  # right and sure on every validation sample
    assert calibration.threshold(0.9) == 0.01
    assert calibration.sets(proba, 0.9).tolist() == [[True, False], [True, False], [False, True]]


def test_few_validation_samples_give_every_class():
    calibration = ProbabilityCalibration(1.0, np.array([0.1, 0.2, 0.3]))
    assert calibration.threshold(0.9) == 1.0  # ⌈4 · 0.9⌉ = 4 > 3 scores
    assert calibration.sets(np.array([[0.0, 1.0]]), 0.9).all()
    assert calibration.threshold(0.5) == 0.2  # ⌈4 · 0.5⌉ = 2nd smallest
    assert list(set_labels(np.array([[True, False, True], [False, True, False]]), ["a", "b", "c"])) == ["a|c", "b"]


def test_reliability_diagram_is_written(tmp_path):
    proba, labels = sampled(n=300, seed=3)
    calibrated = ProbabilityCalibration.fit(proba, labels).probabilities(proba)
    raw_confidence, right = top_label(proba, labels)
    panels = {"net": (raw_confidence, top_label(calibrated, labels)[0], right), "empty": ([], [], [])}
    plot_reliability(panels, tmp_path / "reliability.png", "test")
    assert (tmp_path / "reliability.png").stat().st_size > 10_000
