"""Trained models applied to new data in one real Snakemake run: a molecule library predicted by every replicate
model, new tiles labelled by the tile classifier, a GAN's tiles exported as image files."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dlbio.apply.images import list_new_images
from dlbio.data.molecules.reading import library_path, read_molecule_table
from dlbio.data.tiles import load_tile_store
from dlbio.errors import InputError
from helpers import load_config, snakemake

pytestmark = pytest.mark.workflow

INVALID = "not a molecule"
GNN = {"hidden": 16, "layers": 2, "max_epochs": 2, "patience": 2, "batch_size": 32}
CLASSES = ["Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A lab's training CSV (100 ChEMBL molecules), a library CSV (20 of them and one invalid SMILES) and two
    libraries of those 20 with their own column names: plain.tsv (iupac, structure), smiles.csv (smiles only)."""
    folder = tmp_path_factory.mktemp("apply_data")
    chembl = read_molecule_table("rdkit:CHEMBL2321810", "smiles", ["Act"], None).sample(100, random_state=0)
    table = pd.DataFrame({"compound": chembl["id"], "SMILES": chembl["input_smiles"], "pIC50": chembl["Act"]})
    table.to_csv(folder / "train.csv", index=False)
    library = pd.concat([table.head(20), pd.DataFrame({"compound": ["bad"], "SMILES": [INVALID]})])
    library.drop(columns="pIC50").to_csv(folder / "screen.csv", index=False)
    plain = pd.DataFrame({"iupac": "name-" + table["compound"].head(20), "structure": table["SMILES"].head(20)})
    plain.to_csv(folder / "plain.tsv", sep="\t", index=False)
    plain[["structure"]].rename(columns={"structure": "smiles"}).to_csv(folder / "smiles.csv", index=False)
    return folder


def apply_config(folder):
    return {
        "molecules": {
            "lab": {
                "source": str(folder / "train.csv"),
                "smiles_column": "SMILES",
                "id_column": "compound",
                "targets": ["pIC50"],
                "split": {"method": "random", "val": 0.15, "test": 0.15},
                "models": ["gine"],
                "replicates": 2,
                "gnn": GNN,
                "baseline": {"n_estimators": 10, "n_bits": 256},
                "predict": [
                    str(folder / "screen.csv"),
                    {"source": str(folder / "plain.tsv"), "smiles_column": "structure", "id_column": "iupac"},
                    {"source": str(folder / "smiles.csv"), "smiles_column": "smiles"},  # no 'compound': row numbers
                ],
            }
        },
        "images": {"sim": load_config("images_sim")["images"]["sim"] | {"classify": {"held_out": {"split": "test"}}}},
        "evaluation": {"classifier": {"width": 4, "epochs": 2, "batch_size": 16}},
        "gan": {
            "tiny": {
                "dataset": "sim",
                "arch": "dcgan-starshaped",
                "algorithm": "gan",
                "iterations": 2,
                "batch_size": 4,
                "width": 4,
                "nz": 8,
                "checkpoint_every": 2,
                "n_samples": 3,
                "export": {"n": 3, "format": "png"},
            }
        },
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory, files):
    workdir = tmp_path_factory.mktemp("apply")
    result = snakemake(workdir, apply_config(files))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_invalid_library_row_is_rejected_with_its_reason(run):
    rejected = pd.read_csv(run / "results/molecules/lab/predict/screen/rejected.tsv", sep="\t", dtype=str)
    assert list(rejected["id"]) == ["bad"] and list(rejected["input_smiles"]) == [INVALID]
    assert rejected["reason"].str.startswith("invalid SMILES").all()


@pytest.mark.parametrize("model", ["gine", "fp_rf"])
def test_library_predictions_are_the_training_jobs_mean_and_std_over_replicates(run, model):
    predicted = pd.read_csv(run / "results/molecules/lab/predict/screen/predictions.tsv", sep="\t", dtype={"id": str})
    assert list(predicted.columns) == [
        "id", "input_smiles", "smiles", "similarity", "nearest_id",
        "gine/pIC50", "gine/pIC50/std", "gine/pIC50/lower", "gine/pIC50/upper",
        "fp_rf/pIC50", "fp_rf/pIC50/std", "fp_rf/pIC50/lower", "fp_rf/pIC50/upper",
    ]  # fmt: skip
    assert len(predicted) == 20 and "bad" not in set(predicted["id"])
    replicates = [
        pd.read_csv(run / f"results/molecules/lab/{model}/rep{r}/predictions.tsv", sep="\t", dtype={"id": str})
        .set_index("id")
        .loc[predicted["id"]]
        for r in (0, 1)
    ]
    assert list(replicates[0]["smiles"]) == list(predicted["smiles"])  # standardised as in training
    values = np.stack([rep["predicted_pIC50"].to_numpy() for rep in replicates])
    np.testing.assert_allclose(predicted[f"{model}/pIC50"], values.mean(0), atol=1e-4)
    np.testing.assert_allclose(predicted[f"{model}/pIC50/std"], values.std(0, ddof=1), atol=1e-4)


def test_libraries_with_their_own_column_names_are_predicted_alike(run):
    screen = pd.read_csv(run / "results/molecules/lab/predict/screen/predictions.tsv", sep="\t", dtype=str)
    for library, ids in [("plain", "name-" + screen["id"]), ("smiles", [str(i) for i in range(20)])]:
        predicted = pd.read_csv(run / f"results/molecules/lab/predict/{library}/predictions.tsv", sep="\t", dtype=str)
        assert predicted["id"].tolist() == list(ids)
        assert predicted.drop(columns="id").equals(screen.drop(columns="id"))
    log = (run / "logs/molecules/lab/predict/smiles.log").read_text()
    assert "has no id column 'compound' (the training entry's id_column): ids are row numbers from 0" in log


def test_held_out_tiles_get_the_classifiers_test_predictions(run):
    classified = pd.read_csv(run / "results/images/sim/classify/held_out/predictions.tsv", sep="\t")
    assert list(classified.columns) == ["path", "class", "confidence", "prediction_set"]
    trained = pd.read_csv(run / "results/images/sim/classifier/predictions.tsv", sep="\t")
    test = trained[trained["split"] == "test"].set_index("path").loc[classified["path"]]
    assert len(classified) == 12
    assert list(classified["class"]) == list(test["predicted"])
    np.testing.assert_allclose(classified["confidence"], test["confidence"], atol=1e-3)  # both calibrated
    assert (trained["split"] == "val").sum() == 6  # one of the 8 training tiles per class held out
    assert (classified["prediction_set"] == "|".join(CLASSES)).all()  # 6 validation tiles < 9: every class at 0.9
    metrics = json.loads((run / "results/images/sim/classifier/metrics.json").read_text())
    assert metrics["temperature"] > 0 and 0 <= metrics["ece"] <= 1 and 0 <= metrics["ece_uncalibrated"] <= 1
    assert (run / "results/images/sim/classifier/reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_gan_tiles_are_exported_in_the_lin_layout_as_the_sampled_tiles(run):
    out = run / "results/gan/tiny"
    table = pd.read_csv(out / "export.tsv", sep="\t")
    assert len(table) == 18 and sorted(set(table["label"])) == CLASSES
    assert sorted(p.name for p in (out / "export/Tea1").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert len(list_new_images(manifest=out / "export.tsv")) == 18  # a manifest dlbio reads
    synthetic = load_tile_store(out / "synthetic.npz")
    for i in range(3):
        rgb = np.asarray(Image.open(out / f"export/Arp3/{i:06d}.png"))
        tile = synthetic["images"][synthetic["labels"] == CLASSES.index("Arp3")][i]
        assert rgb.shape == (32, 48, 3) and (rgb[..., 2] == 0).all()
        np.testing.assert_array_equal(np.moveaxis(rgb[..., :2], -1, 0), tile)


def test_shipped_library_and_bad_predict_entries_are_named(tmp_path, files):
    assert library_path("rdkit:NCI_first_200").endswith("first_200.props.sdf")
    with pytest.raises(InputError, match="molecules.lab.predict.*unknown built-in library 'rdkit:NCI'"):
        library_path("rdkit:NCI", "molecules.lab.predict")
    (tmp_path / "other").mkdir()
    (tmp_path / "other/screen.csv").write_text((files / "screen.csv").read_text())
    config = apply_config(files)
    config["molecules"]["lab"]["predict"].append(str(tmp_path / "other/screen.csv"))
    result = snakemake(tmp_path / "same_stem", config, "-n")
    assert result.returncode != 0 and "both named 'screen'" in result.stdout + result.stderr
    config = apply_config(files)
    config["molecules"]["lab"]["predict"] = [str(files / "plain.tsv")]  # read with the entry's 'SMILES'
    result = snakemake(tmp_path / "no_smiles", config)  # a real run: stopped before any job
    message = (
        f"'{files / 'plain.tsv'}' (config key 'molecules.lab.predict'): SMILES column 'SMILES' not found; "
        "available columns: iupac, structure"
    )
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (tmp_path / "no_smiles/results").exists()
    config = apply_config(files)
    config["images"]["sim"]["classify"]["both"] = {"split": "test", "folder": str(tmp_path)}
    result = snakemake(tmp_path / "two_sources", config, "-n")
    assert result.returncode != 0
    assert "images.sim.classify.both': give exactly one of folder, manifest or split" in result.stdout + result.stderr
