"""Kept molecule models (safe formats, refused files) and predicting a library chunk by chunk as training did."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from rdkit import Chem

from dlbio.apply.molecules import (
    TrainingSet,
    iter_predictions,
    load_molecule_model,
    predict_library,
    save_fingerprint_forest,
    save_molecule_model,
)
from dlbio.data.molecules import featurize_many, prepare_molecules, read_molecule_table, to_data_list
from dlbio.errors import InputError
from dlbio.evaluate.calibration import calibrate_tasks, fit_tasks, two_class
from dlbio.evaluate.conformal import Calibration
from dlbio.models.registry import MOLECULE_MODELS
from dlbio.train.fingerprint_baseline import fit_forests, morgan_fingerprints, predict_forests
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules

CPU = torch.device("cpu")
SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/schema.yaml").read_text())
GNN = SCHEMA["properties"]["molecules"]["additionalProperties"]["properties"]["gnn"]["properties"]
PARAMS = {key: spec["default"] for key, spec in GNN.items()} | {
    "hidden": 16,
    "layers": 2,
    "max_epochs": 2,
    "batch_size": 32,
}
STANDARDIZE = {"largest_fragment": True, "uncharge": True, "tautomer": False}
FINGERPRINT = {"radius": 2, "n_bits": 512}
INVALID = "C1CC(N"


@pytest.fixture(scope="module")
def dataset():
    """90 ChEMBL molecules standardised, labelled (Act) and featurised as for training; a train/val split."""
    table = read_molecule_table("rdkit:CHEMBL2321810", "SMILES", ["Act"], None).iloc[:90]
    kept, _ = prepare_molecules(table, "regression", ["Act"], STANDARDIZE, "mean", None)
    tensors = featurize_many(kept["smiles"], processes=1)
    tensors["y"] = torch.tensor(kept[["Act"]].to_numpy(), dtype=torch.float32)
    split = np.where(np.arange(len(kept)) % 5 == 0, "val", "train")
    return kept, to_data_list(tensors), split


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """Model files of the training jobs and their predictions: two GNN replicates and a classification forest
    (calibrated on the validation molecules, as its training job does)."""
    kept, graphs, split = dataset
    folder = tmp_path_factory.mktemp("models")
    files, predictions = {"gine": []}, {"gine": []}
    for seed in (0, 1):
        model, scaler, _ = fit_molecule_model("gine", graphs, split, "regression", PARAMS, CPU, seed)
        predictions["gine"].append(predict_molecules(model, graphs, scaler, "regression", CPU))
        files["gine"].append(folder / f"gine_{seed}.pt")
        save_molecule_model(files["gine"][-1], model, scaler, "gine", PARAMS, "regression", ["Act"], STANDARDIZE)
    fingerprints = morgan_fingerprints(kept["smiles"], **FINGERPRINT)
    active = (kept[["Act"]].to_numpy() >= 5.6).astype(float)  # 44 of these 90 molecules
    forests = fit_forests(fingerprints, active, split == "train", "classification", n_estimators=10, seed=0)
    calibrations = fit_tasks(predict_forests(forests, fingerprints), active, split == "val")
    predictions["fp_rf"] = [calibrate_tasks(calibrations, predict_forests(forests, fingerprints))]
    files["fp_rf"] = [folder / "fp_rf.npz"]
    save_fingerprint_forest(
        files["fp_rf"][0], forests, FINGERPRINT, "classification", ["active"], STANDARDIZE, calibrations
    )
    return files, predictions


@pytest.fixture(scope="module")
def library(dataset, tmp_path_factory):
    """The training molecules' input SMILES as a CSV (columns name, smiles) with an invalid SMILES in the middle."""
    kept, _, _ = dataset
    rows = pd.DataFrame({"name": kept["id"], "smiles": kept["input_smiles"]})
    rows = pd.concat([rows.iloc[:40], pd.DataFrame({"name": ["broken"], "smiles": [INVALID]}), rows.iloc[40:]])
    path = tmp_path_factory.mktemp("library") / "library.csv"
    rows.to_csv(path, index=False)
    return path


def load(files):
    return {name: [load_molecule_model(f, CPU) for f in paths] for name, paths in files.items()}


def test_every_saved_model_loads_without_unpickling(trained):
    files, _ = trained
    for path in files["gine"]:
        saved = torch.load(path, weights_only=True)
        assert saved["arch"] == "gine" and saved["targets"] == ["Act"] and saved["standardize"] == STANDARDIZE
        assert saved["featurization_version"] == 1 and saved["scaler_std"].shape == (1,)
    with np.load(files["fp_rf"][0], allow_pickle=False) as arrays:
        assert str(arrays["format"]) == "dlbio.fingerprint_forest"


@pytest.mark.parametrize("arch", MOLECULE_MODELS)
def test_every_architecture_round_trips(arch, dataset, tmp_path):
    _, graphs, split = dataset
    model, scaler, _ = fit_molecule_model(
        arch, graphs[:30], split[:30], "regression", PARAMS | {"max_epochs": 1}, CPU, 0
    )
    save_molecule_model(tmp_path / "m.pt", model, scaler, arch, PARAMS, "regression", ["Act"], STANDARDIZE)
    loaded = load_molecule_model(tmp_path / "m.pt", CPU, arch=arch)
    expected = predict_molecules(model, graphs, scaler, "regression", CPU)
    np.testing.assert_array_equal(loaded.predict(graphs), expected)


def test_library_predictions_equal_the_training_jobs(trained, dataset, library, tmp_path):
    files, expected = trained
    kept, _, _ = dataset
    out, rejected = tmp_path / "predictions.tsv", tmp_path / "rejected.tsv"
    counts = predict_library(library, "smiles", "name", load(files), out, rejected, chunk_size=25)
    assert counts == (len(kept), 1)
    rejects = pd.read_csv(rejected, sep="\t", dtype=str)
    assert rejects[["id", "input_smiles"]].values.tolist() == [["broken", INVALID]]
    assert rejects["reason"][0].startswith("invalid SMILES: ")
    table = pd.read_csv(out, sep="\t", dtype={"id": str})
    assert table.columns.tolist() == ["id", "input_smiles", "smiles", "gine/Act", "gine/Act/std", "fp_rf/active"]
    assert table["id"].tolist() == kept["id"].tolist() and table["smiles"].tolist() == kept["smiles"].tolist()
    runs = np.stack(expected["gine"])[:, :, 0]
    np.testing.assert_allclose(table["gine/Act"], runs.mean(0), rtol=1e-6)
    np.testing.assert_allclose(table["gine/Act/std"], runs.std(0, ddof=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(table["fp_rf/active"], expected["fp_rf"][0][:, 0], rtol=1e-6)


def test_one_chunk_gives_the_training_predictions_exactly(trained, library):
    files, expected = trained
    models = load({"gine": files["gine"][:1], "fp_rf": files["fp_rf"]})
    chunks = list(iter_predictions(library, "smiles", "name", models, chunk_size=1000))
    assert len(chunks) == 1
    predicted, rejected = chunks[0]
    assert len(rejected) == 1 and "gine/Act/std" not in predicted
    np.testing.assert_array_equal(predicted["gine/Act"], expected["gine"][0][:, 0])
    np.testing.assert_array_equal(predicted["fp_rf/active"], expected["fp_rf"][0][:, 0])


def test_regression_gets_intervals_and_every_molecule_its_nearest_training_molecule(
    trained, dataset, library, tmp_path
):
    files, expected = trained
    kept, _, split = dataset
    table = tmp_path / "molecules.tsv"
    kept.assign(split=split).to_csv(table, sep="\t", index=False)
    training = TrainingSet.from_table(table, **FINGERPRINT)
    calibrations = {("gine", "Act"): Calibration(0.9, q=2.0, floor=0.1, n=18)}
    (predicted, _), *_ = iter_predictions(
        library, "smiles", "name", load(files), 1000, calibrations=calibrations, training=training
    )
    assert predicted.columns.tolist() == [
        "id", "input_smiles", "smiles", "similarity", "nearest_id",
        "gine/Act", "gine/Act/std", "gine/Act/lower", "gine/Act/upper", "fp_rf/active",
    ]  # fmt: skip
    runs = np.stack(expected["gine"])[:, :, 0]
    half = 2.0 * (runs.std(0, ddof=1) + 0.1)
    np.testing.assert_allclose(predicted["gine/Act/lower"], runs.mean(0) - half, rtol=1e-5)
    np.testing.assert_allclose(predicted["gine/Act/upper"], runs.mean(0) + half, rtol=1e-5)
    train = split == "train"
    assert (predicted["similarity"][train] == 1).all()
    assert predicted["nearest_id"][train].tolist() == kept["id"][train].tolist()
    assert predicted["similarity"][~train].between(0, 1).all()
    assert set(predicted["nearest_id"]) <= set(kept["id"][train])
    forest = calibrations | {("fp_rf", "active"): calibrations[("gine", "Act")]}
    with pytest.raises(InputError, match="model 'fp_rf' .* classifies 'active': intervals are for regression targets"):
        list(iter_predictions(library, "smiles", "name", load(files), calibrations=forest))
    with pytest.raises(InputError, match="no interval calibration of model 'gine', target 'Act'"):
        list(iter_predictions(library, "smiles", "name", load(files), calibrations={}))


def test_classifiers_get_calibrated_probabilities_and_conformal_sets(trained, library):
    files, expected = trained
    models = load(files)
    forest = models["fp_rf"][0]
    assert forest.calibrations[0].temperature != 1 and len(forest.calibrations[0].scores) == 18  # validation
    (predicted, _), *_ = iter_predictions(library, "smiles", "name", models, 1000, set_level=0.8)
    assert predicted.columns.tolist()[-2:] == ["fp_rf/active", "fp_rf/active/prediction_set"]
    assert "gine/Act/prediction_set" not in predicted  # regression
    p = expected["fp_rf"][0][:, 0]
    members = forest.calibrations[0].sets(two_class(p), 0.8)
    assert predicted["fp_rf/active/prediction_set"].tolist() == [
        "|".join(str(k) for k in (0, 1) if row[k]) for row in members
    ]
    assert set(predicted["fp_rf/active/prediction_set"]) <= {"0", "1", "0|1"}  # never empty
    with pytest.raises(InputError, match=r"'molecules\.x\.set_level' = 1\.2: a conformal level must lie strictly"):
        list(iter_predictions(library, "smiles", "name", models, key="molecules.x.predict", set_level=1.2))


def test_a_classifier_is_saved_with_its_calibration(tmp_path):
    y = np.array([[0.0], [1], [0], [1]])
    forests = fit_forests(np.eye(4, dtype=np.uint8), y, np.ones(4, bool), "classification", 2, 0)
    with pytest.raises(ValueError, match="a classification model is saved without calibrations"):
        save_fingerprint_forest(tmp_path / "f.npz", forests, FINGERPRINT, "classification", ["y"], STANDARDIZE)


def test_sdf_library_with_an_id_property(trained, dataset, tmp_path):
    files, expected = trained
    kept, _, _ = dataset
    path = tmp_path / "library.sdf"
    with Chem.SDWriter(str(path)) as writer:
        for name, smiles in zip(kept["id"][:12], kept["smiles"][:12]):
            mol = Chem.MolFromSmiles(smiles)
            mol.SetProp("compound", name)
            writer.write(mol)
    models = load({"fp_rf": files["fp_rf"]})
    (predicted, rejected), *rest = iter_predictions(path, "smiles", "compound", models, chunk_size=100)
    assert not rest and rejected.empty and predicted["id"].tolist() == kept["id"][:12].tolist()
    np.testing.assert_array_equal(predicted["fp_rf/active"], expected["fp_rf"][0][:12, 0])


def test_an_id_column_the_library_lacks_gives_row_numbers_unless_required(trained, library, caplog):
    models = load({"fp_rf": trained[0]["fp_rf"]})
    with caplog.at_level("INFO", logger="dlbio.data.molecule_library"):
        (predicted, rejected), *_ = iter_predictions(library, "smiles", "compound", models, id_required=False)
    assert "no id column 'compound'" in caplog.text and "row numbers from 0" in caplog.text
    assert rejected["id"].tolist() == ["40"] and predicted["id"].tolist()[39:41] == ["39", "41"]
    with pytest.raises(InputError, match="id column 'compound' not found; available columns: name, smiles"):
        list(iter_predictions(library, "smiles", "compound", models))


def test_sdf_without_the_id_property_gives_titles_unless_required(trained, tmp_path):
    path = tmp_path / "titled.sdf"
    with Chem.SDWriter(str(path)) as writer:
        for i, smiles in enumerate(["CCO", "c1ccccc1O"]):
            mol = Chem.MolFromSmiles(smiles)
            mol.SetProp("_Name", f"mol{i}")
            writer.write(mol)
    models = load({"fp_rf": trained[0]["fp_rf"]})
    (predicted, _), *_ = iter_predictions(path, "smiles", "compound", models, id_required=False)
    assert predicted["id"].tolist() == ["mol0", "mol1"]
    with pytest.raises(InputError, match="id property 'compound' not found; available properties: none"):
        list(iter_predictions(path, "smiles", "compound", models))


def test_bad_library_files_are_named(trained, tmp_path):
    files, _ = trained
    models = load({"fp_rf": files["fp_rf"]})
    table = tmp_path / "no_smiles.tsv"
    table.write_text("name\tstructure\na\tCCO\n")
    with pytest.raises(
        InputError, match=r"no_smiles.tsv' \(config key 'molecules.x.predict'\): SMILES column 'smiles' not"
    ):
        list(iter_predictions(table, "smiles", None, models, key="molecules.x.predict"))
    header = tmp_path / "header.csv"
    header.write_text("smiles\n")
    with pytest.raises(InputError, match="header.csv' .* has no rows"):
        list(iter_predictions(header, "smiles", None, models))
    (tmp_path / "x.smi").write_text("C\n")
    with pytest.raises(InputError, match="x.smi' .*unknown file type '.smi'"):
        list(iter_predictions(tmp_path / "x.smi", "smiles", None, models))


def test_other_model_files_are_refused_by_name(trained, tmp_path):
    files, _ = trained
    gine = files["gine"][0]
    with pytest.raises(InputError, match="gine_0.pt' holds a 'gine' model, expected 'mpnn'"):
        load_molecule_model(gine, CPU, arch="mpnn")
    saved = torch.load(gine, weights_only=True)
    for change, message in (
        ({"format_version": 0}, "format version 0; this dlbio reads version 2"),
        ({"featurization_version": 0}, "molecule features of version 0"),
        ({"arch": "mpnn"}, "the weights do not fit a 'mpnn' model"),
        ({"format": "dlbio.tile_classifier"}, "is not a dlbio molecule model"),
    ):
        torch.save(saved | change, tmp_path / "changed.pt")
        with pytest.raises(InputError, match=f"changed.pt'.*{message}"):
            load_molecule_model(tmp_path / "changed.pt", CPU)
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pt")
    with pytest.raises(InputError, match="pickled.pt' is not a molecule model readable with weights_only=True"):
        load_molecule_model(tmp_path / "pickled.pt", CPU)
    np.savez(tmp_path / "store.npz", images=np.zeros((1, 1, 2, 2), np.uint8))
    with pytest.raises(InputError, match="store.npz' is not a fingerprint forest"):
        load_molecule_model(tmp_path / "store.npz", CPU)
    other = load_molecule_model(gine, CPU)
    other.standardize = STANDARDIZE | {"tautomer": True}
    with pytest.raises(InputError, match="standardises molecules with"):
        list(
            iter_predictions(
                tmp_path / "any.csv", "smiles", None, {"a": [load_molecule_model(gine, CPU)], "b": [other]}
            )
        )
