"""Mini-batch training of molecule property predictors with masked losses and early stopping.

Batches are gathered from the flat tensors of :class:`~dlbio.data.molecules.graphs.MoleculeGraphs` (a list
of PyG ``Data`` is joined into one first), so memory grows with the store, not with per-molecule objects.

Missing labels (NaN) are masked out of every loss. Regression targets are standardised with the
training molecules' mean and standard deviation; predictions are mapped back. The learning rate is
constant or follows chemprop's Noam-like schedule (:func:`learning_rate_factor`).
"""

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from dlbio.data.molecules.graphs import molecule_graphs
from dlbio.models.molecule_gnn import build_molecule_model
from dlbio.train.early_stopping import EarlyStopping


def masked_loss(out, y, task):
    """Mean loss over the labelled (non-NaN) entries of ``y``."""
    mask = ~torch.isnan(y)
    target = torch.where(mask, y, torch.zeros_like(y))
    if task == "regression":
        loss = (out - target) ** 2
    else:
        loss = F.binary_cross_entropy_with_logits(out, target, reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1)


class TargetScaler:
    """Per-task standardisation for regression (identity for classification)."""

    def __init__(self, y, task):
        regression = task == "regression"
        self.mean = torch.nan_to_num(y.nanmean(0)) if regression else torch.zeros(y.shape[1])
        std = torch.tensor(np.nanstd(y.numpy(), axis=0)) if regression else torch.ones(y.shape[1])
        self.std = torch.where(std > 0, std, torch.ones_like(std)).float()

    def scale(self, y):
        return (y - self.mean.to(y.device)) / self.std.to(y.device)

    def unscale(self, y):
        return y * self.std.to(y.device) + self.mean.to(y.device)


def learning_rate_factor(params, steps_per_epoch):
    """Per optimiser step, the multiplier of ``params["lr"]`` (a ``LambdaLR`` function).

    ``schedule: constant``: 1. ``schedule: noam`` (chemprop's): linear warm-up from ``init_lr`` to ``lr`` over
    ``warmup_epochs``, then exponential decay to ``final_lr`` at the end of ``max_epochs`` (and ``final_lr`` after).
    """
    if params["schedule"] == "constant":
        return lambda step: 1.0
    max_lr, init_lr, final_lr = params["lr"], params["init_lr"], params["final_lr"]
    warmup = round(params["warmup_epochs"] * steps_per_epoch)
    decay = max(params["max_epochs"] * steps_per_epoch - warmup, 1)

    def factor(step):
        if step < warmup:
            return (init_lr + (max_lr - init_lr) * step / warmup) / max_lr
        return (final_lr / max_lr) ** (min(step - warmup, decay) / decay)

    return factor


def epoch_loss(model, loader, scaler, task, device, optimizer=None, scheduler=None):
    """One pass over ``loader``; trains when an optimizer is given (stepping ``scheduler`` per batch).

    Returns the mean batch loss."""
    model.train(optimizer is not None)
    total, batches = 0.0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for batch in loader:
            batch = batch.to(device)
            loss = masked_loss(model(batch), scaler.scale(batch.y), task)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


def fit_molecule_model(arch, graphs, split, task, params, device, seed):
    """Train on the ``train`` molecules, stop early on the ``val`` loss, keep the best epoch.

    ``graphs``: :class:`~dlbio.data.molecules.graphs.MoleculeGraphs` or a list of PyG ``Data``; ``split``: each
    molecule's split name. ``params``: a ``molecules.<name>.gnn`` entry (model sizes: see
    :func:`build_molecule_model`; lr, schedule, init_lr, final_lr, warmup_epochs, batch_size, max_epochs,
    patience). Returns (model, scaler, history table).
    """
    torch.manual_seed(seed)
    graphs, split = molecule_graphs(graphs), np.asarray(split)
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    scaler = TargetScaler(graphs.y[train], task)
    model = build_molecule_model(
        arch, graphs.num_node_features, graphs.num_edge_features, graphs.y.shape[1], params
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"])
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(train, params["batch_size"], shuffle=True, generator=generator, collate_fn=graphs.collate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor(params, len(loader)))
    val_loader = DataLoader(val, params["batch_size"], collate_fn=graphs.collate)
    stopper, history = EarlyStopping(model, params["patience"]), []
    for epoch in tqdm(range(1, params["max_epochs"] + 1), desc=f"train {arch}", mininterval=10):
        lr = optimizer.param_groups[0]["lr"]
        train_loss = epoch_loss(model, loader, scaler, task, device, optimizer, scheduler)
        val_loss = epoch_loss(model, val_loader, scaler, task, device)
        history.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "val_loss": val_loss})
        if stopper.step(epoch, val_loss):
            break
    stopper.restore(arch, epoch)
    return model, scaler, pd.DataFrame(history)


@torch.no_grad()
def predict_molecules(model, graphs, scaler, task, device, batch_size=256):
    """Predictions for every molecule (M, T) of ``graphs`` (as in :func:`fit_molecule_model`): values for
    regression, probabilities for classification."""
    model.eval()
    graphs = molecule_graphs(graphs)
    loader = DataLoader(np.arange(len(graphs)), batch_size, collate_fn=graphs.collate)
    outs = [model(batch.to(device)) for batch in loader]
    out = torch.cat(outs).cpu()
    return (scaler.unscale(out) if task == "regression" else torch.sigmoid(out)).numpy()
