"""Real Snakemake runs of the workflow on tiny configs in temporary directories."""

import base64
import json
import re

import anndata
import numpy as np
import pandas as pd
import pytest
import torch

from dlbio.evaluate.effect import verdict
from helpers import load_config, snakemake

BASE64 = re.compile(r"base64,([A-Za-z0-9+/=]+)")


def tiny_config(counts_h5ad, query=None):
    """Two datasets side by side (tests/configs/cells_tiny.yaml): scanpy's PBMC cells (normalised; two replicates, a
    held-out query) and simulated raw counts (two replicates, each with its own split)."""
    config = load_config("cells_tiny", counts_h5ad=counts_h5ad)
    config["cells"]["pbmc"]["query"] |= query or {}
    return config


GNN = tiny_config("-")["cells"]["pbmc"]["gnn"]


def metrics(workdir, dataset, model, replicate=0):
    return json.loads((workdir / f"results/cells/{dataset}/{model}/rep{replicate}/metrics.json").read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory, counts_h5ad):
    workdir = tmp_path_factory.mktemp("run")
    result = snakemake(workdir, tiny_config(counts_h5ad))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.workflow
def test_every_model_and_the_baseline_beat_the_majority_class_in_every_replicate(run):
    table = pd.read_csv(run / "results/cells/pbmc/comparison.tsv", sep="\t").set_index("model")
    assert sorted(table.index) == ["gcn", "logreg", "sage"] and (table["n_replicates"] == 2).all()
    base = [metrics(run, "pbmc", "logreg", r)["accuracy"] for r in (0, 1)]
    for model in table.index:
        runs = [metrics(run, "pbmc", model, r) for r in (0, 1)]
        assert all(m["n_test"] == 112 and m["accuracy"] > m["majority_rate"] + 0.3 for m in runs), model
        accuracy = np.array([m["accuracy"] for m in runs])
        assert table.loc[model, "accuracy_mean"] == pytest.approx(accuracy.mean(), abs=1e-4)
        assert table.loc[model, "accuracy_std"] == pytest.approx(accuracy.std(ddof=1), abs=1e-4)
        paired = accuracy - np.array(base)
        assert table.loc[model, "accuracy_vs_logreg_mean"] == pytest.approx(paired.mean(), abs=2e-4)
        assert table.loc[model, "accuracy_vs_logreg_std"] == pytest.approx(paired.std(ddof=1), abs=2e-4)
        expected = None if model == "logreg" else verdict(paired.mean(), paired.std(ddof=1))
        assert (table.loc[model, "accuracy_verdict"] if model != "logreg" else None) == expected
    assert metrics(run, "pbmc", "gcn", 0) != metrics(run, "pbmc", "gcn", 1)  # seeds 0 and 1


@pytest.mark.workflow
def test_resplit_draws_a_split_per_replicate_and_counts_run_side_by_side(run):
    table = pd.read_csv(run / "results/cells/sim/comparison.tsv", sep="\t")
    assert sorted(table["model"]) == ["logreg", "sage"]
    assert (table["macro_f1_mean"] > 0.9).all()
    splits = [pd.read_csv(run / f"results/cells/sim/sage/rep{r}/predictions.tsv", sep="\t")["split"] for r in (0, 1)]
    assert not splits[0].equals(splits[1])
    baseline = pd.read_csv(run / "results/cells/sim/logreg/rep1/predictions.tsv", sep="\t")["split"]
    assert baseline.equals(splits[1])  # a replicate's model and baseline share its split


@pytest.mark.workflow
@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_per_model_outputs(run, model):
    out = run / "results/cells/pbmc" / model / "rep0"
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert len(predictions) == 560
    assert set(predictions["split"]) == {"train", "val", "test"}
    test = predictions[predictions["split"] == "test"]
    assert (test["label"] == test["predicted"]).mean() == pytest.approx(metrics(run, "pbmc", model)["accuracy"])
    assert {k for k in metrics(run, "pbmc", model) if k.startswith("f1/")} == {
        f"f1/{c}" for c in predictions["label"].unique()
    }
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert len(history) <= GNN["max_epochs"]
    for figure in ("confusion.png", "embedding.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["arch"] == model and saved["temperature"] == metrics(run, "pbmc", model)["temperature"]


@pytest.mark.workflow
def test_every_model_is_calibrated_on_its_validation_cells(run):
    table = pd.read_csv(run / "results/cells/pbmc/comparison.tsv", sep="\t").set_index("model")
    for model in table.index:
        runs = [metrics(run, "pbmc", model, r) for r in (0, 1)]
        assert all(m["temperature"] > 0 and 0 <= m["ece"] <= 1 and 0 <= m["ece_uncalibrated"] <= 1 for m in runs)
        assert table.loc[model, "ece_mean"] == pytest.approx(np.mean([m["ece"] for m in runs]), abs=1e-4)
        predictions = pd.read_csv(run / f"results/cells/pbmc/{model}/rep0/predictions.tsv", sep="\t")
        unchanged = predictions["confidence"] == predictions["confidence_uncalibrated"]
        assert unchanged.mean() < 0.5 if runs[0]["temperature"] != 1 else unchanged.all()
    assert (run / "results/cells/pbmc/reliability.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.workflow
def test_held_out_query_is_labelled_as_well_as_the_test_cells(run):
    out = run / "results/cells/pbmc/query/pbmc68k_reduced_query"
    scores = pd.read_csv(out / "metrics.tsv", sep="\t").set_index("model")
    assert sorted(scores.index) == ["gcn", "logreg", "sage"]
    for model in scores.index:
        assert scores.loc[model, "accuracy"] > metrics(run, "pbmc", model)["accuracy"] - 0.1, model
    annotated = anndata.read_h5ad(out / "annotated.h5ad")
    assert annotated.n_obs == 140 and annotated.obsm["X_reference_embedding"].shape == (140, 30)
    for model in scores.index:
        assert {f"{model}_prediction", f"{model}_confidence"} <= set(annotated.obs)
    table = pd.read_csv(out / "annotations.tsv", sep="\t")
    assert len(table) == 3 * 140
    assert (scores["known_flagged"] <= 0.25).all() and scores["novel_flagged"].isna().all()  # calibrated for 5%


@pytest.mark.workflow
def test_a_higher_unassigned_rate_leaves_more_cells_unassigned(run, counts_h5ad):
    path = run / "results/cells/pbmc/query/pbmc68k_reduced_query/annotations.tsv"
    before = (pd.read_csv(path, sep="\t")["predicted"] == "unassigned").mean()
    strict = snakemake(run, tiny_config(counts_h5ad, query={"unassigned_rate": 0.5}))
    assert strict.returncode == 0, strict.stderr[-3000:]
    assert "cells_annotate" in strict.stderr and "cells_train_gnn" not in strict.stderr  # nothing retrained
    table = pd.read_csv(path, sep="\t")
    assert (table["predicted"] == "unassigned").mean() > max(before, 0.25)
    assert snakemake(run, tiny_config(counts_h5ad)).returncode == 0  # back to the fixture's config


@pytest.mark.workflow
def test_same_config_twice_gives_identical_results(run, tmp_path, counts_h5ad):
    config = tiny_config(counts_h5ad)
    del config["cells"]["pbmc"]
    again = tmp_path / "again"
    assert snakemake(again, config).returncode == 0
    for model, replicate in [("sage", 0), ("sage", 1), ("logreg", 1)]:
        assert metrics(again, "sim", model, replicate) == metrics(run, "sim", model, replicate)
    for name in ("comparison.tsv", "sage/rep1/predictions.tsv"):
        assert (again / "results/cells/sim" / name).read_text() == (run / "results/cells/sim" / name).read_text()


@pytest.mark.workflow
def test_report_holds_every_registered_result(run, counts_h5ad):
    result = snakemake(run, tiny_config(counts_h5ad), "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (run / "report.html").read_text()
    figures = ("confusion.png", "embedding.png", "reliability.png")
    for name in ("comparison.tsv", *figures, "Single cells", "summary.tsv", "Summary"):
        assert name in html
    summary = pd.read_csv(run / "results/summary.tsv", sep="\t")
    assert list(summary["name"]) == ["pbmc", "sim"] and (summary["reference"] == "logreg").all()
    embedded = "".join(base64.b64decode(blob).decode(errors="ignore") for blob in BASE64.findall(html))
    for value in summary["value"]:
        assert f"{value:g}" in html + embedded


def with_entry(config, dataset, **changes):
    config["cells"][dataset] |= changes
    return config


@pytest.mark.workflow
@pytest.mark.parametrize(
    "change, message",
    [
        ({"knn": {"k": 5}}, "'knn' was unexpected"),
        ({"models": ["gcn", "gin"]}, "'gin' is not one of ['gcn', 'sage', 'gat']"),
        ({"h5ad": "data/absent.h5ad"}, "config key 'cells.sim.h5ad': file 'data/absent.h5ad' does not exist"),
    ],
)
def test_config_errors_stop_before_any_job(tmp_path, counts_h5ad, change, message):
    result = snakemake(tmp_path, with_entry(tiny_config(counts_h5ad), "sim", **change))
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_absent_label_column_fails_in_preparation_and_leaves_no_output(tmp_path, counts_h5ad):
    config = with_entry(tiny_config(counts_h5ad), "sim", label_key="celltype")
    del config["cells"]["pbmc"]
    result = snakemake(tmp_path, config)
    assert result.returncode != 0
    message = "label column 'celltype' not in .obs; available columns: cell_type"
    assert message in (tmp_path / "logs/cells/sim/prepare.log").read_text()
    assert message in result.stderr and "(full log: logs/cells/sim/prepare.log)" in result.stderr  # no profile
    assert not (tmp_path / "results/cells/sim/graph.pt").exists()
