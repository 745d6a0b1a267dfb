"""Full-batch training of node classifiers with early stopping on the validation loss."""

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlbio.models.gnn import NodeClassifier
from dlbio.train.early_stopping import EarlyStopping


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
