"""GNN node classifiers: forward/backward, the sparse path, training (full-batch and mini-batch),
determinism, memory-bounded inference."""

import numpy as np
import pytest
import torch
from helpers import schema_defaults
from torch_geometric.data import Data

from dlbio.data.cells import knn_graph, stratified_split
from dlbio.errors import InputError
from dlbio.models.cell_gnn import NodeClassifier
from dlbio.models.registry import CELL_GNNS
from dlbio.train import cell_gnn
from dlbio.train.cell_gnn import embed_nodes, fit_node_classifier, inference_graph, predict_nodes
from dlbio.train.sampling import in_neighbours, sample_subgraph

PARAMS = schema_defaults("cells", h5ad="-", label_key="-", gnn={"hidden": 16, "dropout": 0.2, "max_epochs": 150, "patience": 20})["gnn"]
ARCH = {k: PARAMS[k] for k in ("hidden", "layers", "dropout", "heads")}  # NodeClassifier's settings
MINIBATCH = {**PARAMS, "batch_size": 32, "fanout": 5, "steps_per_epoch": None, "max_epochs": 40, "patience": 5}
CPU = torch.device("cpu")


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


@pytest.mark.slow
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


def test_full_batch_is_the_default_and_unchanged_by_fanout(blobs):
    explicit = {**PARAMS, "max_epochs": 30, "batch_size": None, "fanout": 3}
    runs = [fit_node_classifier("gcn", blobs, p, CPU, seed=1)[1] for p in (explicit, {**PARAMS, "max_epochs": 30})]
    assert runs[0].equals(runs[1])


@pytest.mark.slow
@pytest.mark.parametrize("arch", CELL_GNNS)
def test_minibatch_training_separates_clusters(blobs, arch):
    model, history = fit_node_classifier(arch, blobs, MINIBATCH, CPU, seed=0)
    proba = predict_nodes(model, blobs, CPU)[0]
    test = blobs.test_mask.numpy()
    assert (proba.argmax(1)[test] == blobs.y.numpy()[test]).mean() > 0.85  # chance: 1/3
    assert history["val_accuracy"].max() > 0.85 and len(history) < MINIBATCH["max_epochs"]
    again = fit_node_classifier(arch, blobs, MINIBATCH, CPU, seed=0)[1]
    assert history.equals(again)


def test_minibatch_settings_are_checked(blobs):
    for bad in ({"batch_size": 0}, {"batch_size": 8, "fanout": 0}):
        with pytest.raises(InputError, match="gnn.batch_size"):
            fit_node_classifier("gcn", blobs, {**MINIBATCH, **bad}, CPU, seed=0)


@pytest.mark.parametrize("arch", ["gat", "sage"])
def test_trimmed_subgraph_forward_gives_the_seeds_whole_subgraph_logits(blobs, arch):
    torch.manual_seed(0)
    model = NodeClassifier(arch, 8, 3, **ARCH).eval()
    graph = in_neighbours(blobs.edge_index, blobs.num_nodes, blobs.edge_weight)
    sub = sample_subgraph(graph, torch.arange(0, 180, 9), 4, 2, torch.Generator().manual_seed(0))
    x = blobs.x[sub.nodes]
    whole = model(x, model.adjacency(sub))[: sub.n_seeds]
    assert torch.allclose(model.forward_sampled(x, sub), whole, atol=1e-5)


@pytest.mark.parametrize("arch", CELL_GNNS)
def test_inference_equals_the_full_graph_forward(blobs, arch, monkeypatch):
    """GAT runs layer-wise over several chunks here; every node, or only some, as the full graph gives them."""
    monkeypatch.setattr(cell_gnn, "CHUNK", 25)
    torch.manual_seed(0)
    model = NodeClassifier(arch, 8, 3, **{**ARCH, "layers": 3}).eval()
    full = model.embed(blobs.x, model.adjacency(blobs))
    graph = inference_graph(model, blobs, CPU)
    assert torch.allclose(embed_nodes(model, blobs.x, graph, CPU), full, atol=1e-5)
    some = torch.tensor([170, 3, 64, 65])
    assert torch.allclose(embed_nodes(model, blobs.x, graph, CPU, some), full[some], atol=1e-5)
    proba, hidden = predict_nodes(model, blobs, CPU)
    assert np.allclose(proba, torch.softmax(model.head(full), 1).detach().numpy(), atol=1e-5)


def test_layerwise_inference_runs_sage_too(blobs, monkeypatch):
    monkeypatch.setattr(cell_gnn, "CHUNK", 25)
    torch.manual_seed(0)
    model = NodeClassifier("sage", 8, 3, **ARCH).eval()
    graph = in_neighbours(blobs.edge_index, blobs.num_nodes)
    layerwise = cell_gnn.embed_layerwise(model.encoder, blobs.x, graph, CPU)
    assert torch.allclose(layerwise, model.embed(blobs.x, model.adjacency(blobs)), atol=1e-5)


def test_minibatch_gat_holds_a_bounded_number_of_edges(monkeypatch):
    """A mini-batch GAT epoch with exact validation on a 50k-node kNN-like graph: no conv sees more than
    a batch's sampled edges (training) or a chunk's in-edges (validation), far from the graph's 750k."""
    n, k, batch_size, fanout = 50_000, 10, 256, 5
    monkeypatch.setattr(cell_gnn, "CHUNK", 2048)
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (n,), generator=gen)
    x = torch.randn(n, 8, generator=gen) + 2 * torch.eye(3, 8)[y]
    target = torch.arange(n).repeat_interleave(k)
    source = (target + torch.randint(1, 200, (n * k,), generator=gen)) % n  # neighbours nearby in id order
    edge_index = torch.cat([torch.stack([source, target]), torch.stack([target, source])], 1)
    split = torch.rand(n, generator=gen)
    data = Data(
        x=x, y=y, edge_index=edge_index, edge_weight=torch.ones(edge_index.shape[1]),
        train_mask=split < 0.04, val_mask=(split >= 0.04) & (split < 0.06), test_mask=split >= 0.06,
    )  # fmt: skip
    seen = []
    model = NodeClassifier("gat", 8, 3, **ARCH)
    for conv in model.encoder.convs:
        conv.register_forward_pre_hook(lambda _, args: seen.append(args[1].shape[1]))
    max_in_degree = int(torch.bincount(edge_index[1]).max())
    train_epoch, validate = cell_gnn.minibatch(model, data, CPU, batch_size, fanout, None, seed=0)
    train_epoch(torch.optim.Adam(model.parameters()))
    assert max(seen) <= batch_size * (fanout + fanout**2)
    seen.clear()
    with torch.no_grad():
        validate()
    assert max(seen) <= cell_gnn.CHUNK * max_in_degree < edge_index.shape[1] / 10


def test_auto_batch_size_trains_attention_on_big_graphs_in_mini_batches(monkeypatch):
    data = Data(x=torch.zeros(4, 8), edge_index=torch.zeros(2, 1000, dtype=torch.long))
    gat, gcn = NodeClassifier("gat", 8, 3, **ARCH), NodeClassifier("gcn", 8, 3, **ARCH)
    assert cell_gnn.choose_batch_size(gat, data, "auto") is None and cell_gnn.choose_batch_size(gat, data, 64) == 64
    monkeypatch.setattr(cell_gnn, "AUTO_EDGE_FEATURES", 1000)
    assert cell_gnn.choose_batch_size(gat, data, "auto") == cell_gnn.AUTO_BATCH_SIZE
    assert cell_gnn.choose_batch_size(gcn, data, "auto") is None and cell_gnn.choose_batch_size(gat, data, None) is None


def test_steps_per_epoch_caps_the_batches_between_validations():
    gen = torch.Generator().manual_seed(0)
    n = 2000
    y = torch.randint(0, 3, (n,), generator=gen)
    edge_index = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    data = Data(x=torch.randn(n, 8, generator=gen), y=y, edge_index=torch.cat([edge_index, edge_index.flip(0)], 1),
                edge_weight=torch.ones(2 * n), train_mask=torch.ones(n, dtype=torch.bool),
                val_mask=torch.ones(n, dtype=torch.bool))  # fmt: skip
    model = NodeClassifier("sage", 8, 3, **ARCH)
    steps = []
    model.head.register_forward_pre_hook(lambda *_: steps.append(1))
    train_epoch, _ = cell_gnn.minibatch(model, data, CPU, 100, 5, 3, seed=0)
    train_epoch(torch.optim.Adam(model.parameters()))
    assert len(steps) == 3  # not the 20 of a full pass
