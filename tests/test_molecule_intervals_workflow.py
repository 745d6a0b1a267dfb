"""Conformal intervals and the nearest training molecule in real Snakemake runs: a library's predictions carry
both, the test coverage reaches comparison.tsv, and a new interval level recalibrates without retraining."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from dlbio.data.molecules.reading import read_molecule_table
from dlbio.io import read_json
from helpers import snakemake

pytestmark = pytest.mark.workflow

GNN = {"hidden": 16, "layers": 2, "max_epochs": 5, "patience": 5, "batch_size": 32}
TRAINING_RULES = {"molecules_prepare", "molecules_train_gnn", "molecules_baseline"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A lab's training CSV (120 ChEMBL molecules) and a library of 10 of them and 10 other ChEMBL molecules."""
    folder = tmp_path_factory.mktemp("interval_data")
    chembl = read_molecule_table("rdkit:CHEMBL2321810", "smiles", ["Act"], None).sample(140, random_state=1)
    table = pd.DataFrame({"compound": chembl["id"], "SMILES": chembl["input_smiles"], "pIC50": chembl["Act"]})
    table.head(120).to_csv(folder / "train.csv", index=False)
    library = pd.concat([table.head(10), table.tail(10)]).drop(columns="pIC50")
    library.to_csv(folder / "screen.csv", index=False)
    return folder


def interval_config(folder, **changes):
    entry = {
        "source": str(folder / "train.csv"),
        "smiles_column": "SMILES",
        "id_column": "compound",
        "targets": ["pIC50"],
        "split": {"method": "random", "val": 0.15, "test": 0.15},
        "models": ["gine"],
        "gnn": GNN,
        "baseline": {"n_estimators": 20, "n_bits": 512},
        "predict": [str(folder / "screen.csv")],
    }
    return {"molecules": {"lab": entry | {"replicates": 2} | changes}}


@pytest.fixture(scope="module")
def run(tmp_path_factory, files):
    workdir = tmp_path_factory.mktemp("intervals")
    result = snakemake(workdir, interval_config(files))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def read(path):
    return pd.read_csv(path, sep="\t", dtype={"id": str, "nearest_id": str, "split": str})


def jobs(result):
    """The rules of the jobs a (dry) run lists in its job stats."""
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", stats, re.MULTILINE)} - {"job"}


def test_library_predictions_carry_intervals_and_the_nearest_training_molecule(run):
    predicted = read(run / "results/molecules/lab/predict/screen/predictions.tsv")
    assert predicted.columns.tolist() == [
        "id", "input_smiles", "smiles", "similarity", "nearest_id",
        "gine/pIC50", "gine/pIC50/std", "gine/pIC50/lower", "gine/pIC50/upper",
        "fp_rf/pIC50", "fp_rf/pIC50/std", "fp_rf/pIC50/lower", "fp_rf/pIC50/upper",
    ]  # fmt: skip
    calibration = read(run / "results/molecules/lab/intervals.tsv").set_index("model")
    for model in ("gine", "fp_rf"):
        q, floor = calibration.loc[model, ["q", "floor"]]
        half = q * (predicted[f"{model}/pIC50/std"] + floor)  # normalised by the 2 replicates' spread
        np.testing.assert_allclose(predicted[f"{model}/pIC50/upper"] - predicted[f"{model}/pIC50"], half, rtol=1e-4)
        np.testing.assert_allclose(predicted[f"{model}/pIC50"] - predicted[f"{model}/pIC50/lower"], half, rtol=1e-4)
    molecules = read(run / "results/molecules/lab/molecules.tsv")
    train = molecules[molecules["split"] == "train"]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=512)
    train_fps = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in train["smiles"]]
    for row in predicted.itertuples():
        brute = DataStructs.BulkTanimotoSimilarity(generator.GetFingerprint(Chem.MolFromSmiles(row.smiles)), train_fps)
        assert row.similarity == pytest.approx(max(brute), abs=1e-6)
        assert brute[train["id"].tolist().index(row.nearest_id)] == pytest.approx(max(brute), abs=1e-6)
    in_training = predicted["id"].isin(train["id"])
    assert in_training.any() and (predicted.loc[in_training, "similarity"] == 1).all()
    assert (predicted.loc[in_training, "nearest_id"] == predicted.loc[in_training, "id"]).all()


def test_test_coverage_and_width_reach_the_tables(run):
    calibration = read(run / "results/molecules/lab/intervals.tsv").set_index("model")
    reps = [read(run / f"results/molecules/lab/gine/rep{r}/predictions.tsv") for r in (0, 1)]
    values = np.stack([rep["predicted_pIC50"] for rep in reps])
    mean, std, y, split = values.mean(0), values.std(0, ddof=1), reps[0]["pIC50"], reps[0]["split"]
    gine = calibration.loc["gine"]
    assert gine["level"] == 0.9 and gine["normalised"] and gine["n_val"] == (split == "val").sum() == 18
    val = split == "val"
    scores = np.sort(np.abs(y[val] - mean[val]) / (std[val] + gine["floor"]))
    assert gine["floor"] == pytest.approx(np.median(std[val]), rel=1e-4)
    assert gine["q"] == pytest.approx(scores[int(np.ceil(19 * 0.9)) - 1], rel=1e-4)
    test = split == "test"
    inside = np.abs(y[test] - mean[test]) <= gine["q"] * (std[test] + gine["floor"])
    assert gine["coverage"] == pytest.approx(inside.mean()) and gine["n_test"] == test.sum()
    comparison = read(run / "results/molecules/lab/comparison.tsv").set_index("model")
    assert comparison.loc["gine", "interval_coverage"] == pytest.approx(gine["coverage"], abs=1e-4)
    assert comparison.loc["gine", "interval_width"] == pytest.approx(gine["mean_width"], abs=1e-4)
    assert read_json(run / "results/molecules/lab/intervals.json")["gine/coverage/pIC50"] == pytest.approx(
        inside.mean()
    )
    applicability = read(run / "results/molecules/lab/applicability.tsv")
    assert set(applicability["model"]) == {"gine", "fp_rf"}
    assert applicability.groupby("model")["n"].sum().to_dict() == {"fp_rf": 36, "gine": 36}  # 18 test × 2 replicates
    assert (run / "results/molecules/lab/applicability.png").stat().st_size > 0


def test_a_new_level_recalibrates_without_retraining(run, files, tmp_path):
    workdir = tmp_path / "relevel"
    shutil.copytree(run, workdir)
    models = sorted(workdir.glob("results/molecules/lab/*/rep*/model.*"))
    stamps = [p.stat().st_mtime_ns for p in models]
    config = interval_config(files, interval_level=0.8)
    planned = jobs(snakemake(workdir, config, "-n"))
    assert {"molecules_check_intervals", "molecules_calibrate", "molecules_compare", "molecules_predict"} <= planned
    assert not TRAINING_RULES & planned
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not TRAINING_RULES & set(re.findall(r"rule (\w+):", result.stdout + result.stderr))
    assert [p.stat().st_mtime_ns for p in models] == stamps
    before = read(run / "results/molecules/lab/intervals.tsv").set_index("model")
    after = read(workdir / "results/molecules/lab/intervals.tsv").set_index("model")
    assert (after["level"] == 0.8).all() and (after["q"] <= before["q"]).all()
    predicted = read(workdir / "results/molecules/lab/predict/screen/predictions.tsv")
    width = predicted["gine/pIC50/upper"] - predicted["gine/pIC50/lower"]
    assert np.allclose(width, 2 * after.loc["gine", "q"] * (predicted["gine/pIC50/std"] + after.loc["gine", "floor"]))


def test_too_few_validation_molecules_for_the_level_stop_before_training(files, tmp_path):
    result = snakemake(tmp_path, interval_config(files, split={"method": "random", "val": 0.05, "test": 0.15}))
    assert result.returncode != 0
    log = (tmp_path / "logs/molecules/lab/check_intervals.log").read_text()
    assert (
        "molecules.lab: target 'pIC50': 90% intervals need at least 9 validation molecules with a measured value, "
        "there are 6; give more molecules the split 'val' (config key 'molecules.lab.split.val') or lower "
        "'molecules.lab.interval_level'"
    ) in log
    assert not list(tmp_path.glob("results/molecules/lab/*/rep*/model.*"))


def test_a_classification_entry_asked_for_intervals_stops_before_any_job(files, tmp_path):
    classification = {"task": "classification", "threshold": 7.0, "split": {"method": "stratified"}, "interval_level": 0.9}
    config = {"molecules": {"active": interval_config(files)["molecules"]["lab"] | classification}}
    result = snakemake(tmp_path, config)
    assert result.returncode != 0 and not (tmp_path / "results").exists()
    assert "'molecules.active.interval_level' = 0.9: intervals are for regression targets" in result.stderr
