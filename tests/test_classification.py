"""Metrics, prediction tables and the model comparison."""

import json

import numpy as np
import pandas as pd
import pytest

from dlbio.evaluate.calibration import calibration_error
from dlbio.evaluate.classification import HEADLINE, classification_metrics, evaluate_predictions, reliability_panels
from dlbio.evaluate.comparison import compare_models
from dlbio.io import write_json


def test_metrics_on_a_known_example():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    m = classification_metrics(y_true, y_pred, np.array(["a", "b", "c"]), majority_class=0)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 + 1 / 2) / 3)
    assert m["f1/b"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx((m["f1/a"] + m["f1/b"] + m["f1/c"]) / 3)
    assert m["majority_rate"] == 0.5


def test_evaluation_calibrates_on_validation_and_scores_test_cells_only(tmp_path):
    split = ["train"] * 3 + ["test"] * 3 + ["val"] * 4
    cells = pd.DataFrame({"cell": list("pqrstuvwxy"), "label": list("aabbabaabb"), "split": split})
    proba = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.6, 0.4]] + [[0.99, 0.01]] * 4)
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in [("m", "json"), ("p", "tsv"), ("c", "png")]}
    table, calibration = evaluate_predictions(cells, proba, np.array(["a", "b"]), "toy", out["m"], out["p"], out["c"])
    assert list(table["predicted"]) == list("abbbaa") + ["a"] * 4
    assert calibration.temperature > 10  # validation: 0.99 for "a", right half the time
    metrics = json.loads(out["m"].read_text())
    assert metrics["model"] == "toy" and metrics["n_test"] == 3
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["temperature"] == calibration.temperature
    # test: b right at 0.7 (a bin of its own), a right and a wrong at 0.6 (one bin, half right)
    assert metrics["ece_uncalibrated"] == pytest.approx(0.3 / 3 + 0.1 * 2 / 3, abs=1e-6)
    assert metrics["ece"] == pytest.approx(calibration_error(calibration.probabilities(proba)[3:6], [1, 0, 1]))
    written = pd.read_csv(out["p"], sep="\t")
    assert list(written.columns) == ["cell", "label", "split", "predicted", "confidence", "confidence_uncalibrated"]
    assert written["confidence_uncalibrated"].tolist() == proba.max(1).round(4).tolist()
    np.testing.assert_allclose(written["confidence"], calibration.probabilities(proba).max(1), atol=1e-4)
    assert out["c"].stat().st_size > 0


def test_reliability_panels_pool_the_test_cells_of_replicates():
    rep = pd.DataFrame(
        {"label": ["a", "b", "a"], "predicted": ["a", "a", "a"], "split": ["test", "test", "val"],
         "confidence": [0.6, 0.7, 0.8], "confidence_uncalibrated": [0.9, 0.95, 0.99]}
    )  # fmt: skip
    raw, calibrated, right = reliability_panels({"gcn": [rep, rep]})["gcn"]
    assert raw.tolist() == [0.9, 0.95] * 2 and calibrated.tolist() == [0.6, 0.7] * 2
    assert right.tolist() == [True, False] * 2


def test_comparison_pairs_replicates_with_the_baseline(tmp_path):
    paths = []
    runs = {"gcn": [0.80, 0.84, 0.82], "sage": [0.86, 0.70, 0.84], "logreg": [0.70, 0.74, 0.72]}
    for model, values in runs.items():
        for replicate, acc in enumerate(values):
            paths.append(tmp_path / model / f"rep{replicate}" / "metrics.json")
            paths[-1].parent.mkdir(parents=True)
            write_json({"model": model, "accuracy": acc, "balanced_accuracy": acc, "macro_f1": acc}, paths[-1])
    table = compare_models(paths, "logreg", HEADLINE).set_index("model")
    assert table.loc["gcn", "n_replicates"] == 3
    assert table.loc["gcn", "accuracy_mean"] == pytest.approx(0.82)
    assert table.loc["gcn", "accuracy_std"] == pytest.approx(0.02)
    assert table.loc["gcn", "accuracy_vs_logreg_mean"] == pytest.approx(0.10)
    assert table.loc["gcn", "accuracy_vs_logreg_std"] == pytest.approx(0.0, abs=1e-9)  # paired: same offset
    assert table.loc["gcn", "accuracy_verdict"] == "improved"
    assert table.loc["sage", "accuracy_vs_logreg_std"] == pytest.approx(0.1058, abs=1e-4)
    assert table.loc["sage", "accuracy_verdict"] == "no clear effect"  # +0.080 ± 0.106
    assert pd.isna(table.loc["logreg", "accuracy_verdict"]) and table.loc["logreg", "macro_f1_vs_logreg_mean"] == 0


def test_comparison_reads_lower_errors_as_improvements(tmp_path):
    paths = []
    for model, values in {"mpnn": [0.60, 0.62], "fp_rf": [0.70, 0.71]}.items():
        for replicate, rmse in enumerate(values):
            paths.append(tmp_path / model / f"rep{replicate}" / "metrics.json")
            paths[-1].parent.mkdir(parents=True)
            write_json({"model": model, "rmse": rmse}, paths[-1])
    table = compare_models(paths, "fp_rf", ["rmse"]).set_index("model")
    assert table.loc["mpnn", "rmse_vs_fp_rf_mean"] == pytest.approx(-0.095)
    assert table.loc["mpnn", "rmse_verdict"] == "improved"
