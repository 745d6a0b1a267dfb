"""A real Snakemake run of molecules_prepare with predefined splits: a split column, a test file, a bad column."""

import pandas as pd
import pytest

from dlbio.data.molecules.reading import read_molecule_table
from helpers import snakemake

pytestmark = pytest.mark.workflow

FOLDS = ["train", "train", "val", "test", "train"] * 6  # 30 molecules: 18 train, 6 val, 6 test


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """main.csv: 30 ChEMBL molecules with a fold column; external.tsv: 8 others and a copy of main's first."""
    chembl = read_molecule_table("rdkit:CHEMBL2321810", "smiles", ["Act"], None).sample(38, random_state=0)
    rows = pd.DataFrame({"compound": chembl["id"], "SMILES": chembl["input_smiles"], "pIC50": chembl["Act"]})
    folder = tmp_path_factory.mktemp("split")
    main, test, bad = folder / "main.csv", folder / "external.tsv", folder / "bad.csv"
    rows[:30].assign(fold=FOLDS).to_csv(main, index=False)
    external = pd.concat([rows[30:], rows[:1].assign(compound="copy")])
    external.assign(compound="ext_" + external["compound"]).to_csv(test, sep="\t", index=False)
    rows[:30].assign(fold=[{"val": "validation"}.get(f, f) for f in FOLDS]).to_csv(bad, index=False)
    return main, test, bad, rows


def entry(path, split):
    return {
        "source": str(path),
        "smiles_column": "SMILES",
        "id_column": "compound",
        "targets": ["pIC50"],
        "split": split,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory, tables):
    """One Snakemake run (``--keep-going``, only molecules_prepare) of the three entries; only 'typo' fails."""
    main, test, bad, _ = tables
    molecules = {
        "fold": entry(main, {"method": "column", "column": "fold"}),
        "external": entry(main, {"method": "random", "val": 0.2, "test_file": str(test)}),
        "typo": entry(bad, {"method": "column", "column": "fold"}),
    }
    workdir = tmp_path_factory.mktemp("splitrun")
    targets = [f"results/molecules/{name}/molecules.tsv" for name in molecules]
    result = snakemake(workdir, {"molecules": molecules}, "--keep-going", *targets)
    assert result.returncode != 0 and "2 of 3 steps (67%) done" in result.stderr, result.stderr[-3000:]
    return workdir


def table(run, name, kind="molecules"):
    return pd.read_csv(run / f"results/molecules/{name}/{kind}.tsv", sep="\t", dtype={"id": str})


def test_split_column_is_the_split_used(run, tables):
    kept = table(run, "fold")
    given = pd.read_csv(tables[0], dtype={"compound": str})
    assert kept["id"].tolist() == given["compound"].tolist()
    assert kept["split"].tolist() == given["fold"].tolist() == FOLDS
    assert (run / "results/molecules/fold/graphs.pt").stat().st_size > 0


def test_test_file_is_the_test_split_and_never_in_training(run, tables):
    rows = tables[3]
    kept = table(run, "external")
    test = kept[kept["split"] == "test"]
    assert test["id"].tolist() == ["ext_" + c for c in rows["compound"][30:]] + ["ext_copy"]
    assert kept["split"][:29].value_counts().to_dict() == {"train": 23, "val": 6}  # main's 30 but the copy
    assert not set(test["smiles"]) & set(kept.loc[kept["split"] != "test", "smiles"])
    rejected = table(run, "external", "rejected")
    assert rejected.to_dict("records") == [
        {
            "id": rows["compound"].iloc[0],
            "input_smiles": rows["SMILES"].iloc[0],
            "reason": "duplicate of ext_copy in test_file",
            "source": str(tables[0]),
        }
    ]


def test_bad_split_values_fail_naming_the_key(run):
    log = (run / "logs/molecules/typo/prepare.log").read_text()
    assert "config key 'molecules.typo.split.column': split column 'fold' of" in log
    assert "6 of 30 rows do not ('validation': 6)" in log
    assert not (run / "results/molecules/typo/molecules.tsv").exists()
