"""Real Snakemake runs of the workflow on tiny configs in temporary directories."""

import base64
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO

GNN = {"hidden": 32, "max_epochs": 120, "patience": 20}
BASE64 = re.compile(r"base64,([A-Za-z0-9+/=]+)")


def tiny_config(counts_h5ad):
    """Two datasets side by side: scanpy's PBMC cells (normalised) and simulated raw counts."""
    return {
        "cells": {
            "pbmc": {
                "h5ad": "scanpy:pbmc68k_reduced",
                "label_key": "bulk_labels",
                "preprocess": {"input": "normalized", "n_top_genes": None, "n_pcs": 30},
                "gnn": GNN,
            },
            "sim": {
                "h5ad": str(counts_h5ad),
                "label_key": "cell_type",
                "preprocess": {"min_genes": 10, "n_top_genes": 200, "n_pcs": 20},
                "graph": {"k": 10, "symmetrize": "mutual"},
                "models": ["sage"],
                "gnn": GNN,
            },
        }
    }


def snakemake_command(workdir):
    return [sys.executable, "-m", "snakemake", "-s", REPO / "Snakefile", "-d", workdir, "--configfile", "config.yaml"]


def snakemake(workdir, config, *args):
    """Run the real workflow with ``config`` in ``workdir``; returns the completed process."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*map(str, snakemake_command(workdir)), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def metrics(workdir, dataset, model):
    return json.loads((workdir / f"results/cells/{dataset}/{model}/metrics.json").read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory, counts_h5ad):
    workdir = tmp_path_factory.mktemp("run")
    result = snakemake(workdir, tiny_config(counts_h5ad))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_every_model_and_the_baseline_beat_the_majority_class(run):
    table = pd.read_csv(run / "results/cells/pbmc/comparison.tsv", sep="\t").set_index("model")
    assert sorted(table.index) == ["gat", "gcn", "logreg", "sage"]
    for model in table.index:
        m = metrics(run, "pbmc", model)
        assert m["n_test"] == 140
        assert m["accuracy"] > m["majority_rate"] + 0.3, model
        assert table.loc[model, "accuracy"] == pytest.approx(m["accuracy"], abs=1e-4)
        assert table.loc[model, "accuracy_vs_logreg"] == pytest.approx(
            m["accuracy"] - metrics(run, "pbmc", "logreg")["accuracy"], abs=2e-4
        )


def test_raw_counts_dataset_runs_side_by_side(run):
    table = pd.read_csv(run / "results/cells/sim/comparison.tsv", sep="\t")
    assert sorted(table["model"]) == ["logreg", "sage"]
    assert (table["macro_f1"] > 0.9).all()


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
def test_per_model_outputs(run, model):
    out = run / "results/cells/pbmc" / model
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert len(predictions) == 700
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


def test_same_config_twice_gives_identical_results(run, tmp_path, counts_h5ad):
    again = tmp_path / "again"
    assert snakemake(again, tiny_config(counts_h5ad)).returncode == 0
    for dataset, model in [("pbmc", "gcn"), ("pbmc", "sage"), ("pbmc", "gat"), ("pbmc", "logreg"), ("sim", "sage")]:
        assert metrics(again, dataset, model) == metrics(run, dataset, model)
    for name in ("pbmc/comparison.tsv", "sim/comparison.tsv", "pbmc/gat/predictions.tsv"):
        assert (again / "results/cells" / name).read_text() == (run / "results/cells" / name).read_text()


def test_report_holds_every_registered_result(run, counts_h5ad):
    result = snakemake(run, tiny_config(counts_h5ad), "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (run / "report.html").read_text()
    for name in ("comparison.tsv", "confusion.png", "embedding.png", "Single cells", "summary.tsv", "Summary"):
        assert name in html
    summary = pd.read_csv(run / "results/summary.tsv", sep="\t")
    assert list(summary["name"]) == ["pbmc", "sim"] and (summary["reference"] == "logreg").all()
    embedded = "".join(base64.b64decode(blob).decode(errors="ignore") for blob in BASE64.findall(html))
    for value in summary["value"]:
        assert f"{value:g}" in html + embedded


def with_entry(config, dataset, **changes):
    config["cells"][dataset] |= changes
    return config


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


def test_absent_label_column_fails_in_preparation_and_leaves_no_output(tmp_path, counts_h5ad):
    config = with_entry(tiny_config(counts_h5ad), "sim", label_key="celltype")
    del config["cells"]["pbmc"]
    result = snakemake(tmp_path, config)
    assert result.returncode != 0
    message = "label column 'celltype' not in .obs; available columns: cell_type"
    assert message in (tmp_path / "logs/cells/sim/prepare.log").read_text()
    assert message in result.stderr and "(full log: logs/cells/sim/prepare.log)" in result.stderr  # no profile
    assert not (tmp_path / "results/cells/sim/graph.pt").exists()
