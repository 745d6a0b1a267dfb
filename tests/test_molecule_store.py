"""The compact molecule tensor store: chunked featurisation, file round trip, batches gathered from flat tensors."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import RDConfig
from torch_geometric.data import Batch, Data

from dlbio.data.molecules import MoleculeGraphs, load_molecule_dataset
from dlbio.data.molecules.featurize import ATOM_FEATURES, BOND_FEATURES, featurize_many, featurize_smiles
from dlbio.errors import InputError
from dlbio.io import save_tensors
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules

WEHI = os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv")
SMILES = pd.read_csv(WEHI, header=None)[0].tolist()[:200] + ["[Na+]", "C", "CC(=O)[O-]"]
PARAMS = {
    "hidden": 16,
    "layers": 2,
    "dropout": 0.1,
    "aggregation": "sum",
    "lr": 1e-3,
    "schedule": "constant",
    "batch_size": 16,
    "max_epochs": 2,
    "patience": 5,
}


def one_molecule_at_a_time(smiles):
    """Data items built from featurize_smiles (float32 features, int64 local indices), the reference."""
    return [Data(**{k: torch.from_numpy(v) for k, v in featurize_smiles(s).items()}) for s in smiles]


@pytest.fixture(scope="module")
def store():
    tensors = featurize_many(SMILES, processes=1)
    tensors["y"] = torch.arange(len(SMILES), dtype=torch.float32)[:, None]
    return tensors


def test_chunked_featurisation_equals_one_shot_in_small_dtypes(store):
    one_shot = featurize_many(SMILES, processes=1, chunk_size=len(SMILES))
    for chunk_size in (1, 7):
        chunked = featurize_many(SMILES, processes=1, chunk_size=chunk_size)
        assert all(torch.equal(chunked[k], one_shot[k]) for k in one_shot)
    pooled = featurize_many(SMILES, processes=2, pool_min=0, chunk_size=13)
    assert all(torch.equal(pooled[k], one_shot[k]) for k in one_shot)
    assert {k: v.dtype for k, v in one_shot.items()} == {
        "x": torch.uint8,
        "edge_index": torch.int32,
        "edge_attr": torch.uint8,
        "atom_ptr": torch.int64,
        "edge_ptr": torch.int64,
    }
    reference = Batch.from_data_list(one_molecule_at_a_time(SMILES))
    assert torch.equal(one_shot["x"].float(), reference.x) and torch.equal(one_shot["atom_ptr"], reference.ptr)
    assert torch.equal(one_shot["edge_index"].long(), reference.edge_index)
    assert torch.equal(one_shot["edge_attr"].float(), reference.edge_attr)


def test_no_molecules_give_an_empty_store():
    empty = featurize_many([], processes=1)
    assert empty["x"].shape == (0, ATOM_FEATURES) and empty["edge_attr"].shape == (0, BOND_FEATURES)
    assert empty["edge_index"].shape == (2, 0) and empty["atom_ptr"].tolist() == [0]


@pytest.mark.parametrize("legacy", [False, True])
def test_batches_equal_pyg_batches_of_the_molecules(store, legacy):
    """Gathered batches equal Batch.from_data_list, from this store and from one in the earlier float32/int64 dtypes."""
    if legacy:
        store = store | {"x": store["x"].float(), "edge_attr": store["edge_attr"].float()}
        store["edge_index"] = store["edge_index"].long()
    graphs = MoleculeGraphs(store)
    data = one_molecule_at_a_time(SMILES)
    rows = [200, 3, 0, 201, 57, 202, 57]  # [Na+] has no bonds; a molecule may come twice
    batch = graphs.collate(rows)
    expected = Batch.from_data_list([data[i] for i in rows])
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
        assert getattr(batch, key).dtype == getattr(expected, key).dtype, key
        assert torch.equal(getattr(batch, key), getattr(expected, key)), key
    assert torch.equal(batch.y, store["y"][rows]) and batch.num_graphs == len(rows)
    item = graphs[-1]
    assert torch.equal(item.x, data[-1].x) and torch.equal(item.edge_index, data[-1].edge_index)
    with pytest.raises(IndexError):
        graphs[len(SMILES)]


def test_store_file_round_trip_and_training_equal_to_data_lists(store, tmp_path):
    save_tensors(store, tmp_path / "graphs.pt")
    table = pd.DataFrame({"id": [str(i) for i in range(len(SMILES))], "split": ["train", "val"] * 101 + ["test"]})
    table.to_csv(tmp_path / "molecules.tsv", sep="\t", index=False)
    graphs, _, y = load_molecule_dataset(tmp_path / "graphs.pt", tmp_path / "molecules.tsv", ["t"])
    assert isinstance(graphs, MoleculeGraphs) and graphs.x.dtype == torch.uint8 and np.array_equal(y, store["y"])
    data = one_molecule_at_a_time(SMILES)
    for item, value in zip(data, store["y"]):
        item.y = value[None]
    cpu, split = torch.device("cpu"), table["split"]
    from_store = fit_molecule_model("gine", graphs, split, "regression", PARAMS, cpu, 0)
    from_list = fit_molecule_model("gine", data, split, "regression", PARAMS, cpu, 0)
    pd.testing.assert_frame_equal(from_store[2], from_list[2])
    np.testing.assert_array_equal(
        predict_molecules(from_store[0], graphs, from_store[1], "regression", cpu),
        predict_molecules(from_list[0], data, from_list[1], "regression", cpu),
    )


def test_a_file_that_is_not_a_molecule_store_is_named(tmp_path):
    save_tensors({"x": torch.zeros(2, 3), "y": torch.zeros(1, 1)}, tmp_path / "graphs.pt")
    pd.DataFrame({"id": ["a"]}).to_csv(tmp_path / "molecules.tsv", sep="\t", index=False)
    with pytest.raises(
        InputError, match=r"graphs.pt' is not a molecule tensor store .*'edge_index'.*molecules_prepare"
    ):
        load_molecule_dataset(tmp_path / "graphs.pt", tmp_path / "molecules.tsv", ["t"])
