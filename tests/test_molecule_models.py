"""Molecule GNNs, masked training, the fingerprint baseline and property metrics."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from dlbio.errors import InputError
from dlbio.evaluate.properties import property_metrics
from dlbio.models.molecule_gnn import build_molecule_model
from dlbio.models.registry import MOLECULE_MODELS
from dlbio.train.fingerprint_baseline import fit_predict_forest, morgan_fingerprints
from dlbio.train.molecule_gnn import TargetScaler, fit_molecule_model, masked_loss, predict_molecules

ATOM, BOND = 7, 3
PARAMS = {"hidden": 32, "layers": 2, "dropout": 0.0, "lr": 3e-3, "batch_size": 16, "max_epochs": 60, "patience": 10}
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
    model = build_molecule_model(arch, ATOM, BOND, 2, hidden=16, layers=2, dropout=0.1)
    out = model(batch)
    assert out.shape == (5, 2)
    masked_loss(out, batch.y, "regression").backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unknown_model_is_named():
    with pytest.raises(InputError, match="unknown molecule model 'chemprop'"):
        build_molecule_model("chemprop", ATOM, BOND, 1, 16, 2, 0.1)


def test_missing_labels_do_not_count():
    out, y = torch.tensor([[1.0, 5.0]]), torch.tensor([[1.0, float("nan")]])
    assert masked_loss(out, y, "regression").item() == 0
    assert masked_loss(out, torch.full_like(y, float("nan")), "classification").item() == 0


def test_scaler_round_trips_and_ignores_missing():
    y = torch.tensor([[1.0, float("nan")], [3.0, 10.0], [5.0, 20.0]])
    scaler = TargetScaler(y, "regression")
    assert scaler.mean.tolist() == [3.0, 15.0]
    assert torch.allclose(scaler.unscale(scaler.scale(y[1:])), y[1:])


@pytest.mark.parametrize("arch", MOLECULE_MODELS)
def test_training_beats_the_mean_predictor(arch):
    rng = np.random.default_rng(1)
    graphs = [random_molecule(rng, n_tasks=1) for _ in range(120)]
    split = np.array(["train"] * 80 + ["val"] * 20 + ["test"] * 20)
    model, scaler, history = fit_molecule_model(arch, graphs, split, "regression", PARAMS, torch.device("cpu"), 0)
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
