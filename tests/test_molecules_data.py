"""Reading molecule tables, RDKit sanitising/standardising/de-duplicating, featurising and splitting."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem, RDConfig

from dlbio.data.molecules import load_molecule_dataset, prepare_molecule_dataset, replicate_split
from dlbio.data.molecules.featurize import (
    ATOM_FEATURES,
    ATOM_LAYOUT,
    BOND_FEATURES,
    BOND_LAYOUT,
    featurize_many,
    featurize_mol,
    featurize_smiles,
    to_data_list,
)
from dlbio.data.molecules.reading import read_molecule_table
from dlbio.data.molecules.split import scaffold, split_molecules
from dlbio.data.molecules.standardize import RejectedRowsError, check_rejections, prepare_molecules
from dlbio.errors import InputError
from dlbio.io import load_tensors, save_tensors

WEHI = os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv")
NO_STANDARDIZE = {"largest_fragment": False, "uncharge": False, "tautomer": False}
ALL_STANDARDIZE = {"largest_fragment": True, "uncharge": True, "tautomer": True}


def table(rows, targets=("y",)):
    """A table as read_molecule_table returns it from (id, smiles, *targets) tuples."""
    return pd.DataFrame(rows, columns=["id", "input_smiles", *targets]).astype({t: float for t in targets})


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def chembl():
    return read_molecule_table("rdkit:CHEMBL2321810", "SMILES", ["Act"], None)


@pytest.fixture
def dataset_cfg():
    return {
        "source": "rdkit:CHEMBL2321810",
        "smiles_column": "SMILES",
        "id_column": None,
        "targets": ["Act"],
        "task": "classification",
        "threshold": 7.0,
        "standardize": {"largest_fragment": True, "uncharge": True, "tautomer": False},
        "duplicates": "mean",
        "max_rejected_fraction": 0.1,
        "split": {"method": "scaffold", "val": 0.1, "test": 0.1},
        "seed": 0,
    }


# ---------------------------------------------------------------- featurisation


def test_layout_matches_the_documented_blocks():
    assert [(b.name, b.size) for b in ATOM_LAYOUT.blocks] == [
        ("element", 14),
        ("degree", 7),
        ("formal charge", 6),
        ("hybridisation", 6),
        ("aromatic", 1),
        ("total H", 5),
        ("chirality tag", 4),
        ("in ring", 1),
        ("ring size", 6),
    ]
    assert [(b.name, b.size) for b in BOND_LAYOUT.blocks] == [
        ("bond type", 4),
        ("conjugated", 1),
        ("in ring", 1),
        ("stereo", 6),
    ]
    assert (ATOM_FEATURES, BOND_FEATURES) == (50, 12)
    assert ATOM_LAYOUT.span("hybridisation") == slice(27, 33) and ATOM_LAYOUT.column("ring size", 6) == 47


def test_benzene_has_six_aromatic_atoms_and_twelve_aromatic_edges():
    f = featurize_smiles("c1ccccc1")
    assert f["x"].shape == (6, ATOM_FEATURES) and f["x"].dtype == np.float32
    assert f["edge_index"].shape == (2, 12) and f["edge_index"].dtype == np.int64
    assert f["edge_attr"].shape == (12, BOND_FEATURES)
    bond_type = f["edge_attr"][:, BOND_LAYOUT.span("bond type")]
    assert (bond_type.argmax(1) == 3).all() and (bond_type.sum(1) == 1).all()  # aromatic only
    assert (f["edge_attr"][:, BOND_LAYOUT.column("in ring")] == 1).all()
    x = f["x"]
    assert (x[:, ATOM_LAYOUT.column("element", "C")] == 1).all()
    assert (x[:, ATOM_LAYOUT.column("aromatic")] == 1).all()
    assert (x[:, ATOM_LAYOUT.column("in ring")] == 1).all() and (x[:, ATOM_LAYOUT.column("ring size", 6)] == 1).all()
    # both directions of every bond
    pairs = set(map(tuple, f["edge_index"].T))
    assert all((j, i) in pairs for i, j in pairs)


def test_ethanol_atoms_and_single_bonds():
    f = featurize_smiles("CCO")
    x = f["x"]
    assert x.shape == (3, ATOM_FEATURES) and f["edge_index"].shape == (2, 4)
    assert x[:, ATOM_LAYOUT.span("element")].argmax(1).tolist() == [1, 1, 3]  # C, C, O
    assert (x[:, ATOM_LAYOUT.span("total H")].argmax(1) == [3, 2, 1]).all()
    assert (x[:, ATOM_LAYOUT.column("hybridisation", Chem.HybridizationType.SP3)] == 1).all()
    assert (f["edge_attr"][:, BOND_LAYOUT.column("bond type", Chem.BondType.SINGLE)] == 1).all()
    assert f["edge_attr"][:, BOND_LAYOUT.column("conjugated")].sum() == 0
    assert f["edge_attr"][:, BOND_LAYOUT.column("in ring")].sum() == 0
    assert (x.sum(1) == 6).all()  # one slot in each of the six one-hot blocks, not aromatic, no ring


def test_every_atom_has_exactly_one_value_per_one_hot_block():
    x = featurize_smiles("C[C@H](N)C(=O)[O-].[Na+].c1ccc2[nH]ccc2c1")["x"]
    for block in ["element", "degree", "formal charge", "hybridisation", "total H", "chirality tag"]:
        assert (x[:, ATOM_LAYOUT.span(block)].sum(1) == 1).all(), block
    chirality = [Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW]
    assert sum(x[1, ATOM_LAYOUT.column("chirality tag", c)] for c in chirality) == 1  # chiral carbon is CW or CCW


def test_unlisted_values_go_to_other_none_or_the_default():
    x = featurize_smiles("*C")["x"]
    element = x[:, ATOM_LAYOUT.span("element")]
    assert element[0, -1] == 1 and element[0].sum() == 1  # the dummy atom is an "other" element
    assert featurize_smiles("C")["x"][0, ATOM_LAYOUT.span("total H")].argmax() == 4  # 4 or more
    dative = featurize_smiles("[NH3]->[Cu+2]")["edge_attr"]
    assert dative[:, BOND_LAYOUT.span("bond type")].sum() == 0
    mol = Chem.MolFromSmiles("Cc1ccccc1-c1ccccc1C")
    bond = mol.GetBondBetweenAtoms(6, 7)
    bond.SetStereo(Chem.BondStereo.STEREOATROPCW)
    edge_attr = featurize_mol(mol)["edge_attr"][2 * bond.GetIdx()]
    assert edge_attr[BOND_LAYOUT.column("stereo", Chem.BondStereo.STEREONONE)] == 1  # counts as none


def test_uncharge_neutralises_acetate_and_largest_fragment_drops_the_salt():
    mols = table([("a", "CC(=O)[O-].[Na+]", 1.0)])
    kept, _ = prepare_molecules(mols, "regression", ["y"], NO_STANDARDIZE, "mean", None)
    assert kept["smiles"][0] == "CC(=O)[O-].[Na+]"
    kept, _ = prepare_molecules(
        mols, "regression", ["y"], {"largest_fragment": True, "uncharge": True, "tautomer": False}, "mean", None
    )
    assert kept["smiles"][0] == "CC(=O)O"
    charges = featurize_smiles(kept["smiles"][0])["x"][:, ATOM_LAYOUT.column("formal charge", 0)]
    assert (charges == 1).all()


def test_invalid_smiles_cannot_be_featurised():
    with pytest.raises(InputError, match="cannot featurise 'C1CC'.*unclosed ring"):
        featurize_smiles("C1CC")


def test_pool_and_single_process_give_the_same_store():
    smiles = pd.read_csv(WEHI, header=None)[0].tolist()[:3000]
    single = featurize_many(smiles, processes=1)
    pooled = featurize_many(smiles, processes=2, pool_min=1000)
    assert single.keys() == pooled.keys() == {"x", "edge_index", "edge_attr", "atom_ptr", "edge_ptr"}
    for key in single:
        assert torch.equal(single[key], pooled[key]), key
    assert single["atom_ptr"].shape == (3001,) and single["atom_ptr"][-1] == single["x"].shape[0]
    assert single["edge_ptr"][-1] == single["edge_index"].shape[1] == single["edge_attr"].shape[0]
    # global atom indices: every edge of molecule i stays inside its atom range
    mol = torch.repeat_interleave(torch.arange(3000), single["edge_ptr"].diff())
    assert (single["edge_index"] >= single["atom_ptr"][mol]).all()
    assert (single["edge_index"] < single["atom_ptr"][mol + 1]).all()


def test_data_list_round_trip_through_a_tensor_store(tmp_path):
    smiles = ["c1ccccc1", "CCO", "[Na+]", "CC(=O)O"]
    tensors = featurize_many(smiles)
    tensors["y"] = torch.tensor([[1.0], [0.0], [np.nan], [2.0]])
    save_tensors(tensors, tmp_path / "graphs.pt")
    data = to_data_list(load_tensors(tmp_path / "graphs.pt"))
    assert len(data) == 4
    for item, s in zip(data, smiles):
        expected = featurize_smiles(s)
        assert torch.equal(item.x, torch.from_numpy(expected["x"]))
        assert torch.equal(item.edge_index, torch.from_numpy(expected["edge_index"]))
        assert torch.equal(item.edge_attr, torch.from_numpy(expected["edge_attr"]))
        assert item.y.shape == (1, 1)
    assert data[2].edge_index.shape == (2, 0) and data[3].y.item() == 2.0


# ---------------------------------------------------------------- preparation


def test_invalid_rows_are_rejected_with_rdkit_reasons():
    mols = table(
        [
            ("ok", "CCO", 1.0),
            ("ring", "C1CC", 1.0),
            ("valence", "N(C)(C)(C)(C)C", 1.0),
            ("kekule", "c1cccc1", 1.0),
            ("empty", "", 1.0),
            ("unlabelled", "CCN", np.nan),
        ]
    )
    kept, rejected = prepare_molecules(mols, "regression", ["y"], NO_STANDARDIZE, "mean", None)
    assert kept["id"].tolist() == ["ok"]
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert reasons["ring"].startswith("invalid SMILES: SMILES Parse Error: unclosed ring")
    assert reasons["valence"].startswith("invalid SMILES: Explicit valence for atom # 0 N, 5")
    assert "kekulize" in reasons["kekule"]
    assert reasons["empty"] == "empty SMILES" and reasons["unlabelled"] == "no target value"
    assert list(rejected.columns) == ["id", "input_smiles", "reason"]
    with pytest.raises(RejectedRowsError, match=r"5 of 6 rows rejected.*invalid SMILES: 3, empty SMILES: 1") as err:
        check_rejections(len(mols), rejected, 0.5)
    assert len(err.value.rejected) == 5


def test_rejected_fraction_at_the_limit_passes_and_all_invalid_fails():
    mols = table([("a", "CCO", 1.0), ("b", "xyz", 1.0)])
    kept, rejected = prepare_molecules(mols, "regression", ["y"], NO_STANDARDIZE, "mean", None)
    check_rejections(2, rejected, 0.5)
    with pytest.raises(InputError, match=r"1 of 2 rows rejected \(50.0% > max_rejected_fraction = 0.4\)"):
        check_rejections(2, rejected, 0.4)
    invalid = table([("b", "xyz", 1.0)])
    kept, rejected = prepare_molecules(invalid, "regression", ["y"], NO_STANDARDIZE, "mean", None)
    assert kept.empty
    with pytest.raises(InputError, match=r"all 1 rows invalid \(invalid SMILES: 1\)"):
        check_rejections(1, rejected, 1.0)


def test_duplicates_are_found_on_canonical_smiles_and_conflicts_rejected():
    mols = table(
        [
            ("a1", "OCC", 1.0),
            ("a2", "CCO", 0.0),  # same molecule, opposite label: tie
            ("b1", "c1ccccc1", 1.0),
            ("b2", "C1=CC=CC=C1", 1.0),
            ("b3", "c1ccccc1", 0.0),  # majority 1
            ("c", "CCN", 0.0),
        ]
    )
    kept, rejected = prepare_molecules(mols, "classification", ["y"], NO_STANDARDIZE, "mean", None)
    assert kept["id"].tolist() == ["b1", "c"] and kept["y"].tolist() == [1.0, 0.0]
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert reasons == {
        "a1": "conflicting duplicate labels",
        "a2": "conflicting duplicate labels",
        "b2": "duplicate of b1",
        "b3": "duplicate of b1",
    }
    kept, rejected = prepare_molecules(mols, "classification", ["y"], NO_STANDARDIZE, "first", None)
    assert kept["id"].tolist() == ["a1", "b1", "c"] and kept["y"].tolist() == [1.0, 1.0, 0.0]
    assert rejected["reason"].tolist() == ["duplicate of a1", "duplicate of b1", "duplicate of b1"]


def test_regression_duplicates_average_non_missing_values_per_target():
    mols = table([("a", "CCO", 1.0, np.nan), ("b", "OCC", 3.0, 5.0), ("c", "CC[O-]", np.nan, 7.0)], ("t1", "t2"))
    kept, rejected = prepare_molecules(mols, "regression", ["t1", "t2"], ALL_STANDARDIZE, "mean", None)
    assert kept["id"].tolist() == ["a"] and kept[["t1", "t2"]].to_numpy().tolist() == [[2.0, 6.0]]
    assert rejected["reason"].tolist() == ["duplicate of a", "duplicate of a"]


def test_threshold_binarises_and_unthresholded_labels_must_be_binary():
    mols = table([("a", "CCO", 6.9), ("b", "CCN", 7.0), ("c", "CCC", np.nan), ("d", "CCCl", 8.0)])
    kept, rejected = prepare_molecules(mols, "classification", ["y"], NO_STANDARDIZE, "mean", 7)
    assert kept["y"].tolist() == [0.0, 1.0, 1.0] and rejected["reason"].tolist() == ["no target value"]
    with pytest.raises(InputError, match=r"classification target 'y' must be 0/1 \(or set a threshold\).*e.g. 6.9"):
        prepare_molecules(mols, "classification", ["y"], NO_STANDARDIZE, "mean", None)


# ---------------------------------------------------------------- reading


def test_builtin_chembl_set(chembl):
    assert len(chembl) == 1017 and list(chembl.columns) == ["id", "input_smiles", "Act"]
    assert chembl["Act"].min() == 4.27 and chembl["Act"].max() == 9.22
    assert (chembl["Act"] >= 7).sum() == 353
    assert chembl["id"].is_unique


def test_csv_and_tsv_tables_with_missing_labels(tmp_path):
    csv = write(tmp_path / "m.csv", "name,smi,logS,pIC50\nm1,CCO,1.5,\nm2,c1ccccc1,NA,6\n")
    out = read_molecule_table(csv, "smi", ["logS", "pIC50"], id_column="name")
    assert out["id"].tolist() == ["m1", "m2"] and out["input_smiles"].tolist() == ["CCO", "c1ccccc1"]
    assert np.isnan(out.loc[1, "logS"]) and np.isnan(out.loc[0, "pIC50"]) and out.loc[1, "pIC50"] == 6
    tsv = write(tmp_path / "m.tsv", "smi\tlogS\nCCO\t1.5\n")
    out = read_molecule_table(tsv, "smi", ["logS"], None)
    assert out["id"].tolist() == ["0"] and out["logS"].dtype == float


def test_sdf_input_reads_properties_and_keeps_unsanitisable_records(tmp_path):
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    for name, smiles, value in [("ethanol", "CCO", 1.5), ("", "c1ccccc1", 2.5), ("bad", "CN(C)(C)(C)C", 3.0)]:
        mol = Chem.MolFromSmiles(smiles, sanitize=name != "bad")
        if name == "bad":
            mol.UpdatePropertyCache(strict=False)
        mol.SetProp("_Name", name)
        mol.SetProp("solubility", str(value))
        writer.write(mol)
    writer.close()
    out = read_molecule_table(str(path), "ignored", ["solubility"], None)
    assert out["id"].tolist() == ["ethanol", "1", "bad"]
    assert out["input_smiles"][:2].tolist() == ["CCO", "c1ccccc1"] and out["solubility"][:2].tolist() == [1.5, 2.5]
    _, rejected = prepare_molecules(out, "regression", ["solubility"], NO_STANDARDIZE, "mean", None)
    assert rejected["id"].tolist() == ["bad"] and "Explicit valence" in rejected["reason"][0]
    with pytest.raises(InputError, match=r"no SDF record has the property 'logP'; properties found: solubility"):
        read_molecule_table(str(path), "ignored", ["logP"], None, key="molecules.x.source")


def test_missing_file_names_the_key(tmp_path):
    with pytest.raises(InputError, match=r"config key 'molecules.x.source': file '.*nope.csv' does not exist"):
        read_molecule_table(str(tmp_path / "nope.csv"), "smiles", ["y"], None, key="molecules.x.source")


def test_empty_files_are_named(tmp_path):
    with pytest.raises(InputError, match=r"empty.csv' \(config key 'source'\) is empty"):
        read_molecule_table(write(tmp_path / "empty.csv", ""), "smiles", ["y"], None)
    with pytest.raises(InputError, match=r"header.csv' \(config key 'source'\) has a header but no rows"):
        read_molecule_table(write(tmp_path / "header.csv", "smiles,y\n"), "smiles", ["y"], None)
    with pytest.raises(InputError, match=r"empty.sdf' \(config key 'source'\) is empty"):
        read_molecule_table(write(tmp_path / "empty.sdf", ""), "smiles", ["y"], None)


@pytest.mark.parametrize(
    "smiles, targets, id_column, message",
    [
        ("SMILES", ["y"], None, "SMILES column 'SMILES' not found; available columns: smiles, y, name"),
        ("smiles", ["y", "z"], None, "target column 'z' not found; available columns: smiles, y, name"),
        ("smiles", ["y"], "ID", "id column 'ID' not found; available columns: smiles, y, name"),
    ],
)
def test_missing_columns_list_the_available_ones(tmp_path, smiles, targets, id_column, message):
    path = write(tmp_path / "m.csv", "smiles,y,name\nCCO,1,a\n")
    with pytest.raises(InputError, match=f"m.csv': {message}"):
        read_molecule_table(path, smiles, targets, id_column)


def test_non_numeric_targets_name_the_column_and_a_bad_value(tmp_path):
    path = write(tmp_path / "m.csv", "smiles,y\nCCO,1\nCCN,\nCCC,>10\nCCCl,inactive\n")
    with pytest.raises(InputError, match=r"m.csv': target column 'y' holds 2 non-numeric values, e.g. '>10'"):
        read_molecule_table(path, "smiles", ["y"], None)


def test_unknown_builtin_and_file_type(tmp_path):
    with pytest.raises(InputError, match=r"unknown built-in dataset 'ESOL'; choose from \['CHEMBL2321810'\]"):
        read_molecule_table("rdkit:ESOL", "SMILES", ["y"], None)
    with pytest.raises(InputError, match=r"unknown file type '.xlsx'"):
        read_molecule_table(write(tmp_path / "m.xlsx", "x"), "smiles", ["y"], None)


# ---------------------------------------------------------------- splits


def test_scaffold_split_never_shares_a_scaffold_and_is_seeded(chembl):
    smiles = chembl["input_smiles"]
    split = split_molecules(smiles, None, "scaffold", 0.1, 0.1, seed=0)
    frame = pd.DataFrame({"scaffold": [scaffold(s) for s in smiles], "split": split})
    assert (frame.groupby("scaffold")["split"].nunique() == 1).all()
    counts = frame["split"].value_counts()
    assert set(counts.index) == {"train", "val", "test"} and counts["train"] >= 0.75 * len(smiles)
    assert (split == split_molecules(smiles, None, "scaffold", 0.1, 0.1, seed=0)).all()
    assert (split != split_molecules(smiles, None, "scaffold", 0.1, 0.1, seed=1)).any()


def test_scaffold_split_fails_when_a_split_stays_empty():
    with pytest.raises(InputError, match="scaffold split left '.*' empty .*1 scaffolds"):
        split_molecules(["c1ccccc1C", "c1ccccc1CC", "c1ccccc1N", "c1ccccc1O"], None, "scaffold", 0.2, 0.2, 0)


def test_stratified_split_keeps_class_proportions():
    labels = np.array([1.0] * 60 + [0.0] * 240)
    smiles = ["C"] * len(labels)
    split = split_molecules(smiles, labels[:, None], "stratified", 0.2, 0.1, seed=3)
    for name, size in [("train", 210), ("val", 60), ("test", 30)]:
        part = labels[split == name]
        assert len(part) == size and part.mean() == pytest.approx(0.2)
    assert (split == split_molecules(smiles, labels, "stratified", 0.2, 0.1, seed=3)).all()
    random = split_molecules(smiles, labels, "random", 0.2, 0.1, seed=3)
    assert [(random == s).sum() for s in ("train", "val", "test")] == [210, 60, 30]


def test_stratified_split_needs_single_task_classes():
    with pytest.raises(InputError, match="needs 0/1 class labels"):
        split_molecules(["C"] * 10, np.linspace(0, 1, 10), "stratified", 0.2, 0.2, 0)
    with pytest.raises(InputError, match="needs a single target; there are 2"):
        split_molecules(["C"] * 10, np.zeros((10, 2)), "stratified", 0.2, 0.2, 0)
    with pytest.raises(InputError, match=r"needs 5 molecules per class; have 0: 8, 1: 2"):
        split_molecules(["C"] * 10, [0] * 8 + [1] * 2, "stratified", 0.2, 0.2, 0)
    with pytest.raises(InputError, match="split.val = 0 and split.test = 0.2 must be > 0"):
        split_molecules(["C"] * 10, None, "random", 0, 0.2, 0)


# ---------------------------------------------------------------- whole dataset


def test_prepare_builtin_dataset_end_to_end(dataset_cfg, tmp_path):
    tensors, kept, rejected = prepare_molecule_dataset("chembl", dataset_cfg)
    assert len(kept) + len(rejected) == 1017 and len(rejected) < 0.1 * 1017
    assert tensors["y"].shape == (len(kept), 1) and set(tensors["y"].unique().tolist()) == {0.0, 1.0}
    assert tensors["atom_ptr"].shape == (len(kept) + 1,)
    assert set(kept["split"]) == {"train", "val", "test"}
    save_tensors(tensors, tmp_path / "graphs.pt")
    data = to_data_list(load_tensors(tmp_path / "graphs.pt"))
    assert len(data) == len(kept) and data[0].x.shape[1] == ATOM_FEATURES
    kept.to_csv(tmp_path / "molecules.tsv", sep="\t", index=False)
    graphs, table, y = load_molecule_dataset(tmp_path / "graphs.pt", tmp_path / "molecules.tsv", ["Act"])
    assert len(graphs) == len(table) == len(y) and (table["id"] == kept["id"]).all()
    assert torch.equal(graphs[5].y, torch.from_numpy(y[5:6])) and y.dtype == np.float32
    with pytest.raises(InputError, match="re-run molecules_prepare"):
        load_molecule_dataset(tmp_path / "graphs.pt", tmp_path / "molecules.tsv", ["Act", "logP"])


def test_dataset_errors_name_the_entry_and_carry_the_rejected_rows(dataset_cfg, tmp_path):
    path = write(tmp_path / "m.csv", "smiles,y\nCCO,1\nxyz,0\nC1CC,1\nCCN,0\n")
    cfg = dataset_cfg | {"source": path, "smiles_column": "smiles", "targets": ["y"], "threshold": None}
    with pytest.raises(RejectedRowsError, match=r"dataset molecules.demo: 2 of 4 rows rejected") as err:
        prepare_molecule_dataset("demo", cfg)
    assert err.value.rejected["input_smiles"].tolist() == ["xyz", "C1CC"]
    with pytest.raises(InputError, match=r"dataset molecules.demo: split.method 'stratified' needs task 'class"):
        prepare_molecule_dataset("demo", dataset_cfg | {"task": "regression", "split": {"method": "stratified"}})
    with pytest.raises(
        InputError, match=r"dataset molecules.demo: built-in 'rdkit:CHEMBL2321810': target column 'pIC50'"
    ):
        prepare_molecule_dataset("demo", dataset_cfg | {"targets": ["pIC50"]})


def test_stratified_split_needs_both_classes():
    with pytest.raises(InputError, match="needs both classes; all 40 molecules are 0"):
        split_molecules(["C"] * 40, np.zeros(40), "stratified", 0.1, 0.1, seed=0)


def csv_cfg(dataset_cfg, path, **changes):
    cfg = dataset_cfg | {"source": str(path), "smiles_column": "smiles", "targets": ["y"], "threshold": None}
    return cfg | {"split": {"method": "random", "val": 0.2, "test": 0.2}} | changes


def test_target_missing_in_every_row_names_key_target_and_file(dataset_cfg, tmp_path):
    path = write(tmp_path / "m.csv", "smiles,y,z\nCCO,1.5,\nCCN,2.5,NA\nCCC,3.5,\n")
    with pytest.raises(
        InputError,
        match=r"dataset molecules.demo: config key 'molecules.demo.targets': target 'z' is missing in all 3 rows "
        r"of '.*m.csv'",
    ):
        prepare_molecule_dataset("demo", csv_cfg(dataset_cfg, path, task="regression", targets=["y", "z"]))


def test_constant_target_names_key_target_and_file(dataset_cfg, tmp_path):
    path = write(tmp_path / "m.csv", "smiles,y,z\nCCO,5,1\nCCN,5,2\nCCC,5,3\nxyz,6,\n")
    cfg = csv_cfg(dataset_cfg, path, task="regression", max_rejected_fraction=0.5)
    with pytest.raises(
        InputError,
        match=r"config key 'molecules.demo.targets': target 'y' of '.*m.csv' has only the value 5 over the 3 kept "
        r"molecules; a constant target leaves nothing to learn",
    ):
        prepare_molecule_dataset("demo", cfg)
    path = write(tmp_path / "m.csv", "smiles,y,z\nCCO,1,\nCCN,2,\nCCC,3,\nxyz,4,1\n")
    with pytest.raises(InputError, match=r"target 'z' of '.*m.csv' has no values over the 3 kept molecules"):
        prepare_molecule_dataset("demo", cfg | {"targets": ["y", "z"]})


def test_one_class_after_threshold_names_key_target_and_file(dataset_cfg, tmp_path):
    path = write(tmp_path / "m.csv", "smiles,y\nCCO,6\nCCN,6.5\nCCC,5\nCCCl,4\n")
    with pytest.raises(
        InputError,
        match=r"dataset molecules.demo: config key 'molecules.demo.targets': target 'y' of '.*m.csv' has only class 0 "
        r"over the 4 kept molecules; a classifier needs both classes 0 and 1 \(threshold 7\)",
    ):
        prepare_molecule_dataset("demo", csv_cfg(dataset_cfg, path, threshold=7.0))


# ---------------------------------------------------------------- predefined splits

ALCOHOLS = ["C" * i + "O" for i in range(1, 25)]  # 24 distinct valid molecules


def split_table(path, rows, header="smiles,y,fold"):
    """A CSV from (smiles, y, fold) tuples; y '' is a missing label."""
    return write(path, header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def column_cfg(dataset_cfg, path, **changes):
    split = {"method": "column", "column": "fold", "val": 0.1, "test": 0.1}
    return csv_cfg(dataset_cfg, path, task="regression", split=split) | changes


def test_split_column_is_the_split_used(dataset_cfg, tmp_path):
    folds = ["train", "val", "test", "train", "train", "test"] * 4
    path = split_table(tmp_path / "m.csv", [(s, i, f) for i, (s, f) in enumerate(zip(ALCOHOLS, folds))])
    _, kept, rejected = prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path))
    assert rejected.empty and kept["id"].tolist() == [str(i) for i in range(24)]  # the input's order
    assert kept["split"].tolist() == folds
    assert kept["y"].tolist() == list(range(24)) and kept.columns[-1] == "split"
    again = prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, seed=5))[1]
    assert again["split"].tolist() == folds  # the seed draws nothing


def test_split_column_from_an_sdf_property(dataset_cfg, tmp_path):
    path = tmp_path / "m.sdf"
    writer = Chem.SDWriter(str(path))
    folds = ["train", "train", "val", "test", "train", "train"]
    for i, (smiles, fold) in enumerate(zip(ALCOHOLS, folds)):
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("y", str(i))
        mol.SetProp("fold", fold)
        writer.write(mol)
    writer.close()
    _, kept, _ = prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path))
    assert kept["split"].tolist() == folds


def test_split_column_with_other_values_names_key_file_and_values(dataset_cfg, tmp_path):
    folds = ["train", "Train", "validation", "", "test", "validation", "val"]
    path = split_table(tmp_path / "m.csv", [(s, i, f) for i, (s, f) in enumerate(zip(ALCOHOLS, folds))])
    with pytest.raises(
        InputError,
        match=r"dataset molecules.demo: config key 'molecules.demo.split.column': split column 'fold' of '.*m.csv' "
        r"must hold train, val or test in every row; 4 of 7 rows do not \('validation': 2, 'Train': 1, empty: 1\)",
    ):
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path))
    with pytest.raises(
        InputError, match=r"split column 'Fold' \(config key 'molecules.demo.split.column'\) not found; available co"
    ):
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, split={"method": "column", "column": "Fold"}))


def test_split_column_needs_every_split_after_rejections(dataset_cfg, tmp_path):
    rows = [(s, i, "train") for i, s in enumerate(ALCOHOLS[:8])] + [("C1CC", 1, "val"), ("CCCCCCCCCCO", 2, "test")]
    path = split_table(tmp_path / "m.csv", rows)
    with pytest.raises(
        InputError,
        match=r"config key 'molecules.demo.split.column': split 'val' holds no kept molecule "
        r"\(kept per split: train 8, val 0, test 1\)",
    ):
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, max_rejected_fraction=0.5))


def test_a_molecule_in_two_splits_stays_only_in_the_held_out_one(dataset_cfg, tmp_path):
    rows = [(s, i, f) for i, (s, f) in enumerate(zip(ALCOHOLS[:6], ["train", "train", "val", "test", "train", "val"]))]
    rows += [("OCC", 10, "train"), ("CCO", 20, "test"), ("C(C)O", 30, "test"), ("CCCO", 40, "val")]
    path = split_table(tmp_path / "m.csv", rows)
    _, kept, rejected = prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, max_rejected_fraction=0.5))
    # ethanol (row 1, train) is also rows 6 (train), 7 and 8 (test): kept once, in test, with the test labels' mean
    ethanol = kept[kept["smiles"] == "CCO"]
    assert ethanol["id"].tolist() == ["7"] and ethanol["split"].tolist() == ["test"] and ethanol["y"].tolist() == [25]
    propanol = kept[kept["smiles"] == "CCCO"]  # row 2 (val) and row 9 (val): merged within the split
    assert propanol["id"].tolist() == ["2"] and propanol["y"].tolist() == [21] and propanol["split"].item() == "val"
    assert dict(zip(rejected["id"], rejected["reason"])) == {
        "1": "duplicate of 7 in split test",  # the training copy that merged row 6
        "6": "duplicate of 1",
        "8": "duplicate of 7",
        "9": "duplicate of 2",
    }
    assert rejected["id"].tolist() == ["1", "6", "8", "9"]  # the input's order
    assert not set(kept.loc[kept["split"] == "train", "smiles"]) & set(kept.loc[kept["split"] != "train", "smiles"])


def test_a_split_leaving_a_class_without_training_labels_names_the_key(dataset_cfg, tmp_path):
    folds = ["train", "train", "train", "val", "test", "test"]
    labels = [0, 0, 0, 1, 1, 0]
    path = split_table(tmp_path / "m.csv", [(s, y, f) for s, y, f in zip(ALCOHOLS, labels, folds)])
    with pytest.raises(
        InputError,
        match=r"dataset molecules.demo: config key 'molecules.demo.split.column': the split leaves target 'y' without "
        r"a positive \(1\) training label \(positives of labels per split: train 0 of 3, val 1 of 1, test 1 of 2\); "
        r"a classifier needs both classes in training",
    ):
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, task="classification"))


def test_a_split_leaving_a_task_without_training_labels_names_the_key(dataset_cfg, tmp_path):
    rows = [
        (s, i, "" if f == "train" else i, f) for i, (s, f) in enumerate(zip(ALCOHOLS, ["train", "val", "test"] * 2))
    ]
    path = split_table(tmp_path / "m.csv", rows, header="smiles,y,z,fold")
    with pytest.raises(
        InputError,
        match=r"config key 'molecules.demo.split.column': the split leaves target 'z' without training labels "
        r"\(labels per split: train 0, val 2, test 2\)",
    ):
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, targets=["y", "z"]))


def test_a_drawn_split_leaving_a_task_without_training_labels_names_the_key(dataset_cfg, tmp_path):
    rows = [(s, i, i if i in (3, 4) else "") for i, s in enumerate(ALCOHOLS[:10])]
    path = split_table(tmp_path / "m.csv", rows, header="smiles,y,z")
    cfg = csv_cfg(dataset_cfg, path, task="regression", targets=["y", "z"])
    for seed in range(100):  # z's two labels land in val/test for some seed
        try:
            prepare_molecule_dataset("demo", cfg | {"seed": seed})
        except InputError as err:
            assert "config key 'molecules.demo.split': the split leaves target 'z' without training labels" in str(err)
            break
    else:
        pytest.fail("no seed put the only z label outside train")


def test_split_without_a_test_fraction_draws_only_train_and_val(chembl):
    smiles = chembl["input_smiles"][:200]
    labels = (chembl["Act"][:200] >= chembl["Act"][:200].median()).to_numpy(float)
    for method in ("random", "stratified", "scaffold"):
        split = split_molecules(smiles, labels, method, 0.2, None, seed=0)
        counts = pd.Series(split).value_counts()
        assert set(counts.index) == {"train", "val"}, method
        assert counts["val"] == pytest.approx(40, abs=8 if method == "scaffold" else 0), method


def test_test_file_rows_are_the_test_split(dataset_cfg, tmp_path):
    main = split_table(tmp_path / "main.csv", [(s, i) for i, s in enumerate(ALCOHOLS[:20])], header="smiles,y")
    test_rows = [("CCCCCCCCCCCCCCCCCCCCCO", 100), ("CCCCCCCCCCCCCCCCCCCCCCO", 101), ("OCC", 102), ("xyz", 103)]
    test = split_table(tmp_path / "test.csv", test_rows, header="smiles,y")
    split = {"method": "random", "val": 0.25, "test": 0.1, "test_file": test}
    cfg = csv_cfg(dataset_cfg, main, task="regression", split=split, max_rejected_fraction=0.3)
    tensors, kept, rejected = prepare_molecule_dataset("demo", cfg)
    test_part = kept[kept["split"] == "test"]
    assert test_part["y"].tolist() == [100, 101, 102] and test_part["id"].tolist() == ["0", "1", "2"]
    assert kept["split"].tolist()[-3:] == ["test"] * 3  # after the source's molecules
    drawn = kept["split"][:-3].value_counts()
    assert drawn.to_dict() == {"train": 14, "val": 5}  # 19 source molecules: ethanol is the test file's
    assert "CCO" not in set(kept.loc[kept["split"] != "test", "smiles"])
    assert rejected.to_dict("records") == [
        {"id": "1", "input_smiles": "CCO", "reason": "duplicate of 2 in test_file", "source": main},
        {"id": "3", "input_smiles": "xyz", "reason": rejected["reason"][1], "source": test},
    ]
    assert rejected["reason"][1].startswith("invalid SMILES") and tensors["y"].shape == (22, 1)


def test_test_file_rejections_are_counted_on_their_own(dataset_cfg, tmp_path):
    main = split_table(tmp_path / "main.csv", [(s, i) for i, s in enumerate(ALCOHOLS)], header="smiles,y")
    test = split_table(tmp_path / "t.csv", [("C1CC", 1), ("xyz", 2), ("c1ccccc1", 3)], header="smiles,y")
    split = {"method": "scaffold", "val": 0.1, "test": 0.1, "test_file": test}
    with pytest.raises(
        RejectedRowsError,
        match=r"dataset molecules.demo: '.*t.csv' \(config key 'molecules.demo.split.test_file'\): 2 of 3 rows "
        r"rejected \(66.7% > max_rejected_fraction = 0.1\)",
    ) as err:
        prepare_molecule_dataset("demo", csv_cfg(dataset_cfg, main, task="regression", split=split))
    assert err.value.rejected["source"].tolist() == [test, test]
    with pytest.raises(InputError, match=r"config key 'molecules.demo.split.test_file': file '.*nope.csv' does not"):
        prepare_molecule_dataset("demo", csv_cfg(dataset_cfg, main, split=split | {"test_file": "nope.csv"}))


def test_inconsistent_split_keys_are_named(dataset_cfg, tmp_path):
    path = split_table(tmp_path / "m.csv", [(s, i, "train") for i, s in enumerate(ALCOHOLS)])
    with pytest.raises(InputError, match=r"'molecules.demo.split': set split.column exactly when split.method is"):
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, split={"method": "column"}))
    with pytest.raises(InputError, match=r"'molecules.demo.split': split.test_file cannot go with split.method 'col"):
        split = {"method": "column", "column": "fold", "test_file": path}
        prepare_molecule_dataset("demo", column_cfg(dataset_cfg, path, split=split))


def test_a_replicate_with_resplit_redraws_train_and_val_but_not_the_test_file(chembl):
    table = pd.DataFrame({"smiles": chembl["input_smiles"][:200].to_numpy(), "Act": np.arange(200) % 2})
    table["split"] = ["test"] * 20 + ["train"] * 180  # the first 20 from a test file
    y = table[["Act"]].to_numpy(float)
    split = {"method": "random", "val": 0.1, "test": 0.1, "test_file": "t.csv"}
    prepared = replicate_split(table, y, {"index": 0, "seed": 0, "split": None}, ["Act"], "classification")
    assert prepared is table
    drawn = replicate_split(table, y, {"index": 1, "seed": 1, "split": split}, ["Act"], "classification")
    assert drawn["split"][:20].eq("test").all() and set(drawn["split"][20:]) == {"train", "val"}
    again = replicate_split(table, y, {"index": 2, "seed": 2, "split": split}, ["Act"], "classification")
    assert not again["split"].equals(drawn["split"])
    with pytest.raises(InputError, match="'resplit' needs a drawn split"):
        replicate_split(table, y, {"index": 1, "seed": 1, "split": {"method": "column"}}, ["Act"], "classification")
