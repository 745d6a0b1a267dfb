"""GNN node classifiers: forward/backward, the sparse path, training, determinism."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from dlbio.data.cells import knn_graph, stratified_split
from dlbio.errors import InputError
from dlbio.models.gnn import NodeClassifier
from dlbio.models.registry import CELL_GNNS
from dlbio.train.gnn import fit_node_classifier, predict_nodes

PARAMS = {
    "hidden": 16,
    "layers": 2,
    "dropout": 0.2,
    "heads": 4,
    "lr": 0.01,
    "weight_decay": 5e-4,
    "max_epochs": 150,
    "patience": 20,
}
ARCH = {k: PARAMS[k] for k in ("hidden", "layers", "dropout", "heads")}  # NodeClassifier's settings


@pytest.fixture(scope="module")
def blobs():
    """Three Gaussian clusters in 8 dimensions as a kNN graph with a stratified split."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    x = (rng.normal(size=(180, 8)) + 2.5 * np.eye(3, 8)[y]).astype(np.float32)
    edge_index, edge_weight = knn_graph(x, 8, "euclidean", "union")
    split = stratified_split(y, 0.2, 0.2, seed=0)
    return Data(
        x=torch.from_numpy(x),
        y=torch.from_numpy(y),
        edge_index=edge_index,
        edge_weight=edge_weight,
        **{f"{s}_mask": torch.from_numpy(split == s) for s in ("train", "val", "test")},
    )


@pytest.mark.parametrize("arch", CELL_GNNS)
def test_forward_backward_reaches_every_parameter(blobs, arch):
    torch.manual_seed(0)
    model = NodeClassifier(arch, 8, 3, **ARCH)
    logits = model(blobs.x, model.adjacency(blobs))
    assert logits.shape == (180, 3)
    torch.nn.functional.cross_entropy(logits, blobs.y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("arch", CELL_GNNS)
def test_sparse_adjacency_gives_the_edge_index_output(blobs, arch):
    torch.manual_seed(0)
    model = NodeClassifier(arch, 8, 3, **ARCH).eval()
    extra = {"edge_weight": blobs.edge_weight} if arch == "gcn" else {}
    reference = model.encoder(blobs.x, blobs.edge_index, **extra)
    assert torch.allclose(model.embed(blobs.x, model.adjacency(blobs)), reference, atol=1e-5)


@pytest.mark.parametrize("arch", CELL_GNNS)
def test_training_separates_clusters_and_stops_early(blobs, arch):
    model, history = fit_node_classifier(arch, blobs, PARAMS, torch.device("cpu"), seed=0)
    proba, hidden = predict_nodes(model, blobs, torch.device("cpu"))
    assert proba.shape == (180, 3) and hidden.shape == (180, 16)
    assert np.allclose(proba.sum(1), 1, atol=1e-5)
    test = blobs.test_mask.numpy()
    assert (proba.argmax(1)[test] == blobs.y.numpy()[test]).mean() > 0.9
    assert len(history) < PARAMS["max_epochs"]
    assert history["val_loss"].idxmin() + 1 + PARAMS["patience"] == len(history)


def test_same_seed_gives_identical_training(blobs):
    runs = [fit_node_classifier("gat", blobs, PARAMS, torch.device("cpu"), seed=3)[1] for _ in range(2)]
    assert runs[0].equals(runs[1])


def test_unknown_architecture_is_named():
    with pytest.raises(InputError, match="unknown cell GNN 'gin'; choose from"):
        NodeClassifier("gin", 8, 3, **ARCH)


def test_gat_requires_heads_and_the_others_ignore_them():
    with pytest.raises(InputError, match="gnn.heads is required for GAT"):
        NodeClassifier("gat", 8, 3, **{**ARCH, "heads": None})
    for arch in ("gcn", "sage"):
        NodeClassifier(arch, 8, 3, **{**ARCH, "heads": None})


def test_gat_width_must_split_over_heads():
    with pytest.raises(InputError, match=r"gnn.hidden \(10\) must be a multiple of gnn.heads \(4\)"):
        NodeClassifier("gat", 8, 3, **{**ARCH, "hidden": 10})
