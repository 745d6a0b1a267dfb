"""Real Snakemake runs of the molecule path on a small table cut from RDKit's ChEMBL set."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dlbio.data.molecules.reading import read_molecule_table
from helpers import snakemake

pytestmark = pytest.mark.workflow

GNN = {"hidden": 32, "layers": 2, "max_epochs": 40, "patience": 10}
INVALID = ["C1CC", "not a molecule", "c1ccccc1(C)(C)(C)"]


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    """300 random ChEMBL molecules + 3 invalid SMILES + one exact duplicate, as a lab's CSV."""
    chembl = read_molecule_table("rdkit:CHEMBL2321810", "smiles", ["Act"], None).sample(300, random_state=0)
    rows = pd.DataFrame({"compound": chembl["id"], "SMILES": chembl["input_smiles"], "pIC50": chembl["Act"]})
    bad = pd.DataFrame({"compound": [f"bad{i}" for i in range(3)], "SMILES": INVALID, "pIC50": 6.0})
    path = tmp_path_factory.mktemp("mol") / "table.csv"
    pd.concat([rows, bad, rows.head(1).assign(compound="copy")]).to_csv(path, index=False)
    return path


def entry(path, **changes):
    return {
        "source": str(path),
        "smiles_column": "SMILES",
        "id_column": "compound",
        "targets": ["pIC50"],
        "split": {"method": "random", "val": 0.15, "test": 0.15},
        "gnn": GNN,
        "baseline": {"n_estimators": 50},
    } | changes


@pytest.fixture(scope="module")
def run(tmp_path_factory, table_csv):
    workdir = tmp_path_factory.mktemp("molrun")
    config = {
        "molecules": {
            "lab": entry(table_csv, models=["gine", "dmpnn"], replicates=2),
            "active": entry(
                table_csv,
                task="classification",
                threshold=7.0,
                models=["gine"],
                split={"method": "stratified", "val": 0.15, "test": 0.15},
                predict=[str(table_csv)],
            ),
        }
    }
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def metrics(run, dataset, model, replicate=0):
    return json.loads((run / f"results/molecules/{dataset}/{model}/rep{replicate}/metrics.json").read_text())


@pytest.mark.parametrize("model", ["gine", "dmpnn", "fp_rf"])
@pytest.mark.parametrize("replicate", [0, 1])
def test_every_model_beats_the_mean_predictor(run, model, replicate):
    m = metrics(run, "lab", model, replicate)
    assert m["rmse"] < m["mean_predictor_rmse"]
    assert {"rmse/pIC50", "mae/pIC50", "r2/pIC50"} <= m.keys()


def test_comparison_gives_replicate_means_paired_differences_and_ensembles(run):
    table = pd.read_csv(run / "results/molecules/lab/comparison.tsv", sep="\t").set_index("model")
    models = ["dmpnn", "fp_rf", "gine"]
    assert sorted(table.index) == sorted(models + [f"{m} ensemble" for m in models])
    for model in models:
        rmse = np.array([metrics(run, "lab", model, r)["rmse"] for r in (0, 1)])
        base = np.array([metrics(run, "lab", "fp_rf", r)["rmse"] for r in (0, 1)])
        assert table.loc[model, "n_replicates"] == 2
        assert table.loc[model, "rmse_mean"] == pytest.approx(rmse.mean(), abs=1e-4)
        assert table.loc[model, "rmse_vs_fp_rf_std"] == pytest.approx((rmse - base).std(ddof=1), abs=1e-4)
        runs = [pd.read_csv(run / f"results/molecules/lab/{model}/rep{r}/predictions.tsv", sep="\t") for r in (0, 1)]
        test = runs[0]["split"] == "test"
        mean = (runs[0]["predicted_pIC50"] + runs[1]["predicted_pIC50"]) / 2
        ensemble = np.sqrt(np.mean((mean[test] - runs[0]["pIC50"][test]) ** 2))
        assert table.loc[f"{model} ensemble", "rmse_mean"] == pytest.approx(ensemble, abs=1e-3)
        assert table.loc[f"{model} ensemble", "uncertainty"] > 0
    assert table.loc["fp_rf", "rmse_vs_fp_rf_mean"] == 0 and pd.isna(table.loc["fp_rf", "rmse_verdict"])


def test_invalid_rows_and_duplicates_are_rejected_with_reasons(run):
    rejected = pd.read_csv(run / "results/molecules/lab/rejected.tsv", sep="\t")
    assert len(rejected) == 4
    assert rejected["reason"].str.startswith("invalid SMILES").sum() == 3
    assert rejected["reason"].str.startswith("duplicate of").sum() == 1
    kept = pd.read_csv(run / "results/molecules/lab/molecules.tsv", sep="\t")
    assert len(kept) == 300 and set(kept["split"]) == {"train", "val", "test"}


def test_classification_variant_reports_auc(run):
    m = metrics(run, "active", "gine")
    assert 0 <= m["roc_auc"] <= 1 and 0 <= m["pr_auc"] <= 1
    predictions = pd.read_csv(run / "results/molecules/active/gine/rep0/predictions.tsv", sep="\t")
    assert set(predictions["pIC50"].dropna()) <= {0.0, 1.0}
    assert predictions["predicted_pIC50"].between(0, 1).all()


@pytest.mark.parametrize("model", ["gine", "fp_rf"])
def test_classifiers_are_calibrated_on_validation_molecules_without_changing_their_ranking(run, model):
    m = metrics(run, "active", model)
    assert m["temperature/pIC50"] > 0 and 0 <= m["ece/pIC50"] <= 1 and m["ece"] == m["ece/pIC50"]
    predictions = pd.read_csv(run / f"results/molecules/active/{model}/rep0/predictions.tsv", sep="\t")
    test = predictions[predictions["split"] == "test"]
    assert roc_auc_score(test["pIC50"], test["predicted_pIC50_uncalibrated"]) == pytest.approx(m["roc_auc"], abs=1e-3)
    table = pd.read_csv(run / "results/molecules/active/comparison.tsv", sep="\t").set_index("model")
    assert table.loc[model, "ece_mean"] == pytest.approx(m["ece"], abs=1e-4)
    assert (run / "results/molecules/active/reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_classified_library_gets_conformal_prediction_sets(run):
    library = pd.read_csv(run / "results/molecules/active/predict/table/predictions.tsv", sep="\t", dtype=str)
    molecules = pd.read_csv(run / "results/molecules/active/molecules.tsv", sep="\t", dtype=str).set_index("id")
    test = library[library["id"].map(molecules["split"]) == "test"]
    labels = test["id"].map(molecules["pIC50"]).astype(float).astype(int).astype(str)
    for model in ("gine", "fp_rf"):
        sets = test[f"{model}/pIC50/prediction_set"]
        assert set(sets) <= {"0", "1", "0|1"}
        assert np.mean([label in s.split("|") for label, s in zip(labels, sets)]) >= 0.75  # level 0.9, 45 molecules


def test_classifications_carry_no_intervals(run):
    library = pd.read_csv(run / "results/molecules/active/predict/table/predictions.tsv", sep="\t", nrows=1)
    assert library.columns[:6].tolist() == ["id", "input_smiles", "smiles", "similarity", "nearest_id", "gine/pIC50"]
    assert not [c for c in library.columns if c.endswith(("/lower", "/upper"))]
    assert not (run / "results/molecules/active/intervals.tsv").exists()
    assert "interval_coverage" not in pd.read_csv(run / "results/molecules/active/comparison.tsv", sep="\t")


def test_too_many_rejections_fail_and_keep_the_reasons(tmp_path, table_csv):
    config = {"molecules": {"strict": entry(table_csv, max_rejected_fraction=0.001)}}
    result = snakemake(tmp_path, config)
    assert result.returncode != 0
    assert "max_rejected_fraction = 0.001" in (tmp_path / "logs/molecules/strict/prepare.log").read_text()
    assert len(pd.read_csv(tmp_path / "logs/molecules/strict/rejected.tsv", sep="\t")) == 4
    assert not (tmp_path / "results/molecules/strict/graphs.pt").exists()


def test_missing_target_column_lists_the_columns(tmp_path, table_csv):
    result = snakemake(tmp_path, {"molecules": {"typo": entry(table_csv, targets=["pic50"])}})
    assert result.returncode != 0
    log = (tmp_path / "logs/molecules/typo/prepare.log").read_text()
    assert "pic50" in log and "compound" in log and "SMILES" in log
