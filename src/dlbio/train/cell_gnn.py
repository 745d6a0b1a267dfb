"""Training of node classifiers, full-batch or on sampled mini-batches, with early stopping on the
validation loss; memory-bounded inference; model files."""

import pickle

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlbio.errors import InputError
from dlbio.models.cell_gnn import NodeClassifier
from dlbio.models.registry import CELL_GNN_OWN_SETTINGS
from dlbio.train.early_stopping import EarlyStopping
from dlbio.train.sampling import in_neighbours, minibatches, sample_subgraph

MODEL_KIND = "cell_gnn"
MODEL_FORMAT = 2  # version of the model file; a file of another version is refused (1: no temperature)
OWN = tuple(sorted({key for keys in CELL_GNN_OWN_SETTINGS.values() for key in keys}))
SETTINGS = ("hidden", "layers", "dropout", *OWN)  # NodeClassifier's settings besides arch and sizes
CHUNK = 16384  # target nodes per step of layer-wise GAT inference: holds ~CHUNK × in-degree × hidden
# batch_size 'auto': an attention model whose per-edge tensors (edges × hidden) exceed this trains on
# mini-batches of AUTO_BATCH_SIZE (GAT on ~50k cells at hidden 64: ~3 GB full-batch); others full-batch.
AUTO_EDGE_FEATURES = 50_000_000
AUTO_BATCH_SIZE = 1024
VAL_CELLS = 10_000  # mini-batch training: validation cells scored per epoch (a fixed seeded sample)


def fit_node_classifier(arch, data, params, device, seed):
    """Train ``arch`` on ``data.train_mask``; keep the weights of the best validation epoch.

    ``params``: hidden, layers, dropout, the model's own settings (GAT: heads), lr, weight_decay, max_epochs, patience;
    batch_size (``None``: full batch; ``auto``: :func:`choose_batch_size`), fanout and steps_per_epoch
    (``None``: a full pass) for mini-batch training (:func:`minibatch`); every key as the config schema's ``gnn``.
    Returns the trained model (on ``device``) and a per-epoch history table.
    """
    torch.manual_seed(seed)
    n_classes = int(data.y.max()) + 1
    own = {key: params[key] for key in CELL_GNN_OWN_SETTINGS.get(arch, ())}
    model = NodeClassifier(
        arch, data.num_features, n_classes, params["hidden"], params["layers"], params["dropout"], **own
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    size = choose_batch_size(model, data, params["batch_size"])
    if size is None:
        train_epoch, validate = full_batch(model, data, device)
    else:
        steps = params["steps_per_epoch"]
        train_epoch, validate = minibatch(model, data, device, size, params["fanout"], steps, seed)
    stopper, history = EarlyStopping(model, params["patience"]), []
    for epoch in tqdm(range(1, params["max_epochs"] + 1), desc=f"train {arch}", mininterval=5):
        model.train()
        loss = train_epoch(optimizer)
        model.eval()
        with torch.no_grad():
            logits, labels = validate()
        val_loss = F.cross_entropy(logits, labels).item()
        val_acc = (logits.argmax(1) == labels).float().mean().item()
        history.append({"epoch": epoch, "train_loss": loss, "val_loss": val_loss, "val_accuracy": val_acc})
        if stopper.step(epoch, val_loss):
            break
    stopper.restore(arch, epoch)
    return model, pd.DataFrame(history)


def choose_batch_size(model, data, setting):
    """The mini-batch size to train ``model`` on graph ``data`` with (``None``: full batch): ``setting`` as
    given, or for ``auto`` full batch where it fits — unless the model attends over edges (GAT) and its
    per-edge tensors would hold more than ``AUTO_EDGE_FEATURES`` values, then ``AUTO_BATCH_SIZE``."""
    if setting != "auto":
        return setting
    too_big = model.attends and data.num_edges * model.encoder.hidden_channels > AUTO_EDGE_FEATURES
    return AUTO_BATCH_SIZE if too_big else None


def full_batch(model, data, device):
    """One optimiser step per epoch on the whole graph: the epoch and validation functions of
    :func:`fit_node_classifier` (train loss; validation logits and labels)."""
    adj = model.adjacency(data).to(device)
    x, y = data.x.to(device), data.y.to(device)
    train, val = data.train_mask.to(device), data.val_mask.to(device)

    def train_epoch(optimizer):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x, adj)[train], y[train])
        loss.backward()
        optimizer.step()
        return loss.item()

    return train_epoch, lambda: (model(x, adj)[val], y[val])


def minibatch(model, data, device, batch_size, fanout, steps_per_epoch, seed):
    """Epoch and validation functions for :func:`fit_node_classifier` on sampled subgraphs.

    An epoch is ``steps_per_epoch`` batches (``None``, or more than a pass holds: one pass) of
    ``batch_size`` shuffled training nodes: per batch, a subgraph of up to ``fanout`` in-neighbours per
    node and layer (:func:`dlbio.train.sampling.sample_subgraph`) moved to ``device``, the loss on its seeds
    (:meth:`NodeClassifier.forward_sampled`), one optimiser step; the epoch's loss is the seed-weighted mean.
    Validation is exact (:func:`embed_nodes`, the inference of :func:`predict_nodes`), not sampled, on at
    most ``VAL_CELLS`` validation nodes (a fixed seeded sample): early stopping reads the loss of the
    predictions the model will make; GAT holds ``CHUNK`` targets' in-edges at a time, GCN and SAGE nodes × hidden.
    """
    if batch_size < 1 or not (fanout >= 1 or fanout == -1):
        raise InputError(f"gnn.batch_size ({batch_size}) must be ≥ 1 and gnn.fanout ({fanout}) ≥ 1 or -1")
    graph = in_neighbours(data.edge_index, data.num_nodes, data.edge_weight)
    whole = inference_graph(model, data, device)
    generator = torch.Generator().manual_seed(seed)
    train, val = data.train_mask.nonzero().flatten(), data.val_mask.nonzero().flatten()
    val = val[torch.randperm(len(val), generator=generator)[:VAL_CELLS]].sort().values
    layers = len(model.encoder.convs)

    def train_epoch(optimizer):
        total, seen = 0.0, 0
        for seeds in minibatches(train, batch_size, generator)[:steps_per_epoch]:
            sub = sample_subgraph(graph, seeds, fanout, layers, generator)
            optimizer.zero_grad()
            logits = model.forward_sampled(data.x[sub.nodes].to(device), sub.to(device))
            loss = F.cross_entropy(logits, data.y[seeds].to(device))
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(seeds), seen + len(seeds)
        return total / seen

    return train_epoch, lambda: (model.head(embed_nodes(model, data.x, whole, device, val)), data.y[val].to(device))


def inference_graph(model, data, device):
    """What :func:`embed_nodes` reads of graph ``data``: for GCN and SAGE the sparse adjacency on ``device``
    (the whole graph at once, as sparse matmuls: memory nodes × hidden), for GAT its
    :class:`~dlbio.train.sampling.InNeighbours` on CPU (layer-wise, :func:`embed_layerwise`)."""
    if model.attends:
        return in_neighbours(data.edge_index, data.num_nodes)
    return model.adjacency(data).to(device)


@torch.no_grad()
def embed_nodes(model, x, graph, device, nodes=None):
    """Eval-mode hidden embeddings of ``nodes`` (``None``: all) from features ``x`` and ``graph``
    (:func:`inference_graph`), on ``device``."""
    model.eval()
    if model.attends:
        return embed_layerwise(model.encoder, x, graph, device, nodes)
    hidden = model.embed(x.to(device), graph)
    return hidden if nodes is None else hidden[nodes.to(device)]


@torch.no_grad()
def embed_layerwise(encoder, x, graph, device, nodes=None):
    """The eval-mode output of a PyG ``BasicGNN`` ``encoder`` whose convs take bipartite inputs (GAT,
    SAGE) for ``nodes`` (``None``: all), as its full-graph forward gives it, holding only ``CHUNK``
    targets' in-edges (of ``graph``, :class:`~dlbio.train.sampling.InNeighbours`) at a time.

    Layer by layer, each chunk of targets runs the conv on the pair (its in-neighbours, itself) with the
    targets first among the sources, so GATConv's added self-loops join each target to itself; then the
    norm and activation between layers, as ``BasicGNN.forward`` applies them in eval mode (no dropout;
    no jumping knowledge, as built here). Layer ``i`` computes only the nodes that later layers read.
    """
    needed = [torch.arange(graph.num_nodes) if nodes is None else nodes]
    for _ in encoder.convs[1:]:
        needed.insert(0, needed[0] if nodes is None else sample_subgraph(graph, needed[0], -1, 1).nodes)
    h, last = x.to(device), len(encoder.convs) - 1
    for i, (conv, targets) in enumerate(zip(encoder.convs, needed)):
        out = h.new_zeros(graph.num_nodes, encoder.out_channels if i == last else encoder.hidden_channels)
        for chunk in targets.split(CHUNK):
            sub = sample_subgraph(graph, chunk, -1, 1)
            source = h[sub.nodes.to(device)]
            y = conv((source, source[: sub.n_seeds]), sub.edge_index.to(device), size=(sub.num_nodes, sub.n_seeds))
            out[chunk.to(device)] = encoder.act(encoder.norms[i](y)) if i < last else y
        h = out
    return h if nodes is None else h[nodes.to(device)]


@torch.no_grad()
def predict_nodes(model, data, device):
    """Class probabilities and hidden embeddings of every node, as CPU numpy arrays (:func:`embed_nodes`)."""
    hidden = embed_nodes(model, data.x, inference_graph(model, data, device), device)
    proba = torch.softmax(model.head(hidden), dim=1)
    return proba.cpu().numpy(), hidden.cpu().numpy()


def save_node_classifier(model, arch, params, path, temperature):
    """Write ``model``'s weights with what rebuilds it (arch, sizes, ``params``' settings, format version) and the
    ``temperature`` that calibrates its probabilities.

    One dict of tensors and plain values: :func:`load_node_classifier` reads it with ``weights_only=True``.
    """
    torch.save(
        {
            "kind": MODEL_KIND,
            "format": MODEL_FORMAT,
            "arch": arch,
            "in_dim": int(model.encoder.in_channels),
            "n_classes": int(model.head[-1].out_features),
            **{name: params.get(name) for name in SETTINGS},
            "temperature": float(temperature),
            "state_dict": {name: t.detach().cpu() for name, t in model.state_dict().items()},
        },
        path,
    )


def load_node_classifier(path, arch=None, in_dim=None, n_classes=None):
    """``(model, temperature)`` saved by :func:`save_node_classifier` at ``path``, the model on CPU in eval mode.

    A file of another kind or format version, another ``arch`` or other input/class counts than given
    (``None``: not checked), or weights that do not fit its settings, is an error naming ``path``.
    """
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise InputError(f"'{path}' cannot be read as a cell GNN model file (without unpickling code): {err}") from err
    if not isinstance(saved, dict) or saved.get("kind") != MODEL_KIND:
        raise InputError(
            f"'{path}' is not a cell GNN model file of this version (written by save_node_classifier): it has no "
            f"'kind' entry '{MODEL_KIND}', as in bare weights of an older version or another kind of file"
        )
    if saved.get("format") != MODEL_FORMAT:
        raise InputError(
            f"'{path}' is a cell GNN model file of format {saved.get('format')}; this version reads format "
            f"{MODEL_FORMAT}: train the model again"
        )
    expected = {"arch": arch, "in_dim": in_dim, "n_classes": n_classes}
    for name, want in expected.items():
        if want is not None and saved[name] != want:
            raise InputError(f"'{path}' holds a model with {name} = {saved[name]!r}, expected {want!r}")
    model = NodeClassifier(
        saved["arch"], saved["in_dim"], saved["n_classes"], **{name: saved[name] for name in SETTINGS}
    )
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise InputError(f"'{path}': the weights do not fit a '{saved['arch']}' model of its settings: {err}") from err
    return model.eval(), float(saved["temperature"])
