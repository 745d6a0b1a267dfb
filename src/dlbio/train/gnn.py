"""Full-batch training of node classifiers with early stopping on the validation loss; model files."""

import pickle

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlbio.errors import InputError
from dlbio.models.gnn import NodeClassifier
from dlbio.train.early_stopping import EarlyStopping

MODEL_KIND = "cell_gnn"
MODEL_FORMAT = 1  # version of the model file; a file of another version is refused
SETTINGS = ("hidden", "layers", "dropout", "heads")  # NodeClassifier's settings besides arch and sizes


def fit_node_classifier(arch, data, params, device, seed):
    """Train ``arch`` on ``data.train_mask``; keep the weights of the best validation epoch.

    ``params``: hidden, layers, dropout, heads (GAT only), lr, weight_decay, max_epochs, patience.
    Returns the trained model (on ``device``) and a per-epoch history table.
    """
    torch.manual_seed(seed)
    n_classes = int(data.y.max()) + 1
    model = NodeClassifier(
        arch, data.num_features, n_classes, params["hidden"], params["layers"], params["dropout"], params.get("heads")
    ).to(device)
    adj = model.adjacency(data).to(device)
    x, y = data.x.to(device), data.y.to(device)
    train, val = data.train_mask.to(device), data.val_mask.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    stopper, history = EarlyStopping(model, params["patience"]), []
    for epoch in tqdm(range(1, params["max_epochs"] + 1), desc=f"train {arch}", mininterval=5):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x, adj)[train], y[train])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x, adj)[val]
        val_loss = F.cross_entropy(logits, y[val]).item()
        val_acc = (logits.argmax(1) == y[val]).float().mean().item()
        history.append({"epoch": epoch, "train_loss": loss.item(), "val_loss": val_loss, "val_accuracy": val_acc})
        if stopper.step(epoch, val_loss):
            break
    stopper.restore(arch, epoch)
    return model, pd.DataFrame(history)


@torch.no_grad()
def predict_nodes(model, data, device):
    """Class probabilities and hidden embeddings of every node, as CPU numpy arrays."""
    model.eval()
    adj = model.adjacency(data).to(device)
    hidden = model.embed(data.x.to(device), adj)
    proba = torch.softmax(model.head(hidden), dim=1)
    return proba.cpu().numpy(), hidden.cpu().numpy()


def save_node_classifier(model, arch, params, path):
    """Write ``model``'s weights with what rebuilds it (arch, sizes, ``params``' settings, format version).

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
            "state_dict": {name: t.detach().cpu() for name, t in model.state_dict().items()},
        },
        path,
    )


def load_node_classifier(path, arch=None, in_dim=None, n_classes=None):
    """The model saved by :func:`save_node_classifier` at ``path``, on CPU in eval mode.

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
    model = NodeClassifier(saved["arch"], saved["in_dim"], saved["n_classes"], *(saved[name] for name in SETTINGS))
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise InputError(f"'{path}': the weights do not fit a '{saved['arch']}' model of its settings: {err}") from err
    return model.eval()
