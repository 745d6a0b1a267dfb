"""Molecule GNNs, masked training, the fingerprint baseline and property metrics."""

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch_geometric.data import Batch, Data

from dlbio.data.molecules.featurize import featurize_smiles
from dlbio.errors import InputError
from dlbio.evaluate.properties import property_metrics
from dlbio.models.molecule_gnn import DMPNNPredictor, build_molecule_model, reverse_edges
from dlbio.models.registry import MOLECULE_MODELS
from dlbio.train.fingerprint_baseline import fit_predict_forest, morgan_fingerprints
from dlbio.train.molecule_gnn import (
    TargetScaler,
    fit_molecule_model,
    learning_rate_factor,
    masked_loss,
    predict_molecules,
)

ATOM, BOND = 7, 3
SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/schema.yaml").read_text())
GNN = SCHEMA["properties"]["molecules"]["additionalProperties"]["properties"]["gnn"]["properties"]
PARAMS = {key: spec["default"] for key, spec in GNN.items()} | {
    "hidden": 32,
    "layers": 2,
    "dropout": 0.0,
    "lr": 3e-3,
    "batch_size": 16,
    "max_epochs": 60,
    "patience": 10,
}
FINGERPRINT = {"radius": 2, "n_bits": 2048}


def random_molecule(rng, n_tasks=2):
    """A ring of 4-9 atoms whose target is the atom count (learnable from sum pooling)."""
    n = int(rng.integers(4, 10))
    src = np.arange(n)
    ring = np.stack([np.r_[src, (src + 1) % n], np.r_[(src + 1) % n, src]])
    y = torch.tensor([[n, 2.0 * n][:n_tasks]], dtype=torch.float32)
    x = torch.eye(ATOM)[rng.integers(0, 2, n)]  # two atom types; the target depends on the count only
    return Data(x=x, edge_index=torch.tensor(ring), edge_attr=torch.ones(2 * n, BOND), y=y)


@pytest.mark.parametrize("arch", MOLECULE_MODELS)
def test_forward_backward_on_a_batch(arch):
    rng = np.random.default_rng(0)
    batch = Batch.from_data_list([random_molecule(rng) for _ in range(5)])
    torch.manual_seed(0)
    model = build_molecule_model(arch, ATOM, BOND, 2, PARAMS | {"hidden": 16, "dropout": 0.1})
    out = model(batch)
    assert out.shape == (5, 2)
    masked_loss(out, batch.y, "regression").backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unknown_model_is_named():
    with pytest.raises(InputError, match="unknown molecule model 'chemprop'"):
        build_molecule_model("chemprop", ATOM, BOND, 1, PARAMS)


def hand_made_molecule(smiles="CC(=O)Nc1ccc(O)cc1"):
    """Paracetamol as a PyG graph with dlbio's atom and bond features (bond k = edges 2k and 2k+1)."""
    arrays = featurize_smiles(smiles)
    return Data(**{k: torch.from_numpy(v) for k, v in arrays.items()})


def test_dmpnn_messages_skip_the_reverse_bond():
    # isobutanol's skeleton C0-C1(-C2)-C3-O4, edges listed in an arbitrary order (not bond-paired)
    bonds = [(0, 1), (1, 2), (1, 3), (3, 4)]
    edges = [(1, 3), (4, 3), (0, 1), (2, 1), (3, 4), (1, 0), (1, 2), (3, 1)]
    edge_index = torch.tensor(edges).T
    rev = reverse_edges(edge_index, 5)
    assert [edges[r] for r in rev] == [(v, u) for u, v in edges]
    model = DMPNNPredictor(ATOM, BOND, 1, PARAMS)
    # one-hot edge states: message u → v is the set of edges summed into it
    m = model.messages(torch.eye(len(edges)), edge_index[0], edge_index[1], rev, 5)
    for e, (u, v) in enumerate(edges):
        got = {edges[j] for j in torch.nonzero(m[e]).flatten().tolist()}
        assert got == {(w, x) for w, x in edges if x == u and w != v}, (u, v)
        assert m[e].max() <= 1  # each incoming edge once, the reverse one not at all
    assert len(bonds) * 2 == len(edges)


def test_dmpnn_refuses_one_way_edges():
    with pytest.raises(ValueError, match="two directed edges"):
        reverse_edges(torch.tensor([[0, 1, 1], [1, 0, 2]]), 3)


def test_dmpnn_takes_a_molecule_without_bonds():
    methane, mol = hand_made_molecule("C"), hand_made_molecule()
    assert methane.edge_index.shape == (2, 0)
    model = DMPNNPredictor(mol.x.size(1), mol.edge_attr.size(1), 1, PARAMS).eval()
    out = model(Batch.from_data_list([methane, mol]))
    assert out.shape == (2, 1) and torch.isfinite(out).all()
    assert torch.allclose(out[0], model(Batch.from_data_list([methane]))[0])


@pytest.mark.parametrize("aggregation", ["sum", "mean", "norm"])
def test_dmpnn_output_does_not_depend_on_atom_or_bond_order(aggregation):
    mol = hand_made_molecule()
    n, e = mol.num_nodes, mol.edge_index.size(1)
    g = torch.Generator().manual_seed(0)
    atoms, edges = torch.randperm(n, generator=g), torch.randperm(e, generator=g)
    new_index = torch.empty_like(atoms)
    new_index[atoms] = torch.arange(n)  # atom atoms[i] becomes atom i
    shuffled = Data(x=mol.x[atoms], edge_index=new_index[mol.edge_index[:, edges]], edge_attr=mol.edge_attr[edges])
    torch.manual_seed(0)
    atom_dim, bond_dim = mol.x.size(1), mol.edge_attr.size(1)
    model = DMPNNPredictor(atom_dim, bond_dim, 2, PARAMS | {"aggregation": aggregation, "dropout": 0.2}).eval()
    batch = Batch.from_data_list([mol, shuffled])
    out = model(batch)
    assert torch.allclose(out[0], out[1], atol=1e-6)
    atom_states = model.encode(batch)  # the atoms' states move with the atoms
    assert torch.allclose(atom_states[n:], atom_states[:n][atoms], atol=1e-5)
    assert atom_states[:n].std(0).max() > 0.01  # and they differ between atoms: the test is not vacuous


def test_noam_schedule_warms_up_then_decays_to_final_lr():
    params = PARAMS | {"schedule": "noam", "lr": 1e-3, "init_lr": 1e-4, "final_lr": 1e-4, "warmup_epochs": 2}
    params["max_epochs"] = 10
    factor = learning_rate_factor(params, steps_per_epoch=5)
    lrs = [1e-3 * factor(step) for step in range(60)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[10] == pytest.approx(1e-3)
    assert lrs[5] == pytest.approx(5.5e-4)  # half-way through the warm-up
    assert all(a < b for a, b in pairwise(lrs[:11])) and all(a > b for a, b in pairwise(lrs[10:51]))
    assert lrs[50] == pytest.approx(1e-4) and lrs[59] == pytest.approx(1e-4)
    assert learning_rate_factor(PARAMS, 5)(123) == 1.0


def test_missing_labels_do_not_count():
    out, y = torch.tensor([[1.0, 5.0]]), torch.tensor([[1.0, float("nan")]])
    assert masked_loss(out, y, "regression").item() == 0
    assert masked_loss(out, torch.full_like(y, float("nan")), "classification").item() == 0


def test_scaler_round_trips_and_ignores_missing():
    y = torch.tensor([[1.0, float("nan")], [3.0, 10.0], [5.0, 20.0]])
    scaler = TargetScaler(y, "regression")
    assert scaler.mean.tolist() == [3.0, 15.0]
    assert torch.allclose(scaler.unscale(scaler.scale(y[1:])), y[1:])


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch, settings",
    [(arch, {}) for arch in MOLECULE_MODELS] + [("dmpnn", {"schedule": "noam", "aggregation": "norm", "lr": 1e-2})],
)
def test_training_beats_the_mean_predictor(arch, settings):
    rng = np.random.default_rng(1)
    graphs = [random_molecule(rng, n_tasks=1) for _ in range(120)]
    split = np.array(["train"] * 80 + ["val"] * 20 + ["test"] * 20)
    params = PARAMS | settings
    model, scaler, history = fit_molecule_model(arch, graphs, split, "regression", params, torch.device("cpu"), 0)
    pred = predict_molecules(model, graphs, scaler, "regression", torch.device("cpu"))
    y = torch.cat([g.y for g in graphs]).numpy()
    metrics = property_metrics(y[100:], pred[100:], ["n_atoms"], "regression", y[:80].mean(0))
    assert metrics["rmse"] < 0.9 * metrics["mean_predictor_rmse"]
    assert len(history) <= PARAMS["max_epochs"]


def test_fingerprint_forest_learns_a_substructure_label():
    smiles = ["c1ccccc1" + "C" * i for i in range(12)] + ["C" * (i + 2) + "O" for i in range(12)]
    y = np.array([[1.0]] * 12 + [[0.0]] * 12)
    fingerprints = morgan_fingerprints(smiles, **FINGERPRINT)
    assert fingerprints.shape == (24, 2048) and set(np.unique(fingerprints)) <= {0, 1}
    train = np.arange(24) % 3 != 0
    proba = fit_predict_forest(fingerprints, y, train, "classification", n_estimators=50, seed=0)
    assert ((proba[~train, 0] > 0.5) == (y[~train, 0] == 1)).all()


def test_classification_metrics_skip_single_class_tasks():
    y = np.array([[0, 1], [1, 1], [0, 1], [1, np.nan]], dtype=float)
    p = np.array([[0.1, 0.9], [0.8, 0.7], [0.3, 0.6], [0.9, 0.2]])
    m = property_metrics(y, p, ["a", "b"], "classification", None)
    assert m["roc_auc/a"] == 1.0 and "roc_auc/b" not in m and m["roc_auc"] == 1.0
