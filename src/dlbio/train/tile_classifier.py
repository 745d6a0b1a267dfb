"""Training, prediction, features and files of :class:`dlbio.models.tile_classifier.TileClassifier`.

Images are uint8 tiles ``(N, C, H, W)`` as in the tile store; models see them through
:func:`dlbio.data.tile_batches.to_unit_range`. Training is seeded (initialisation, shuffling, flips)
and deterministic on CPU. A kept classifier holds its calibration (temperature and conformal scores, fitted on
validation tiles held out of its training tiles: :func:`hold_out_validation`).
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlbio.data.tile_batches import random_flips, to_unit_range
from dlbio.errors import InputError, too_few
from dlbio.io import atomic_write
from dlbio.models.tile_classifier import TileClassifier

# version 1: no format, no classes; 2: no calibration
CLASSIFIER_FORMAT, CLASSIFIER_FORMAT_VERSION = "dlbio.tile_classifier", 3
log = logging.getLogger(__name__)


def balanced_class_weights(labels, n_classes):
    """``n / (K · n_k)`` per class (1 for every class when balanced); 0 for classes absent from ``labels``."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def fit_tile_classifier(images, labels, n_classes, params, device, seed):
    """Train a :class:`TileClassifier` with Adam, random flips and class-balanced cross-entropy.

    ``params``: width, epochs, batch_size, lr, weight_decay. Every epoch visits the tiles in a
    seeded random order in full batches. Batchnorm statistics are then recomputed over all
    training tiles (the running averages lag behind the weights). Returns the model in eval
    mode on ``device``.
    """
    images, labels = np.asarray(images), np.asarray(labels, dtype=np.int64)
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels):
        raise InputError(
            f"tile classifier: expected uint8 tiles (N, C, H, W) and N labels; got {images.dtype} "
            f"{images.shape} and {labels.shape}"
        )
    if len(images) < 2 or labels.min() < 0 or labels.max() >= n_classes:
        raise InputError(f"tile classifier: need ≥ 2 tiles with labels in 0..{n_classes - 1}; got {len(images)} tiles")
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    model = TileClassifier(n_classes, images.shape[1], images.shape[2:], params["width"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    weights = balanced_class_weights(labels, n_classes).to(device)
    x, y = torch.as_tensor(images).to(device), torch.as_tensor(labels).to(device)
    batch = min(params["batch_size"], len(x))
    model.train()
    for epoch in tqdm(range(params["epochs"]), desc="train tile classifier", mininterval=5):
        order = torch.randperm(len(x), generator=rng)
        total = 0.0
        for start in range(0, len(x) - batch + 1, batch):
            idx = order[start : start + batch].to(device)
            loss = F.cross_entropy(model(to_unit_range(random_flips(x[idx], rng))), y[idx], weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        log.info("tile classifier epoch %d: mean training loss %.4f", epoch + 1, total / (len(x) // batch))
    recompute_batchnorm(model, x, params["batch_size"])
    return model.eval()


@torch.no_grad()
def recompute_batchnorm(model, tiles, batch_size):
    """Set every batchnorm layer's statistics to the exact averages over ``tiles`` (uint8, on the model's device)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    model.train()
    for chunk in torch.tensor_split(tiles, -(-len(tiles) // batch_size)):  # near-equal chunks, none of 1 tile
        model(to_unit_range(chunk))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


@torch.no_grad()
def _batched(fn, model, images, device, batch_size):
    model.eval()
    out = [
        fn(to_unit_range(images[i : i + batch_size]).to(device)).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy()


def predict_tiles(model, images, device, batch_size=256):
    """Class probabilities ``(N, K)`` of uint8 tiles."""
    return _batched(lambda x: torch.softmax(model(x), dim=1), model, images, device, batch_size)


def tile_features(model, images, device, batch_size=256):
    """Penultimate features ``(N, D)`` of uint8 tiles."""
    return _batched(model.features, model, images, device, batch_size)


def hold_out_validation(labels, split, fraction, seed, key):
    """``split`` with ``fraction`` of every class's ``train`` tiles (at least one, drawn with ``seed``) marked ``val``:
    the tiles a classifier is calibrated on. Fails naming the config ``key`` (of ``fraction``) when a class has fewer
    than 2 training tiles."""
    split, labels = np.asarray(split).astype(object), np.asarray(labels)
    train = np.flatnonzero(split == "train")
    counts = pd.Series(labels[train]).value_counts()
    if too_few(counts, 2):
        raise InputError(
            f"config key '{key}': classes {too_few(counts, 2)} have fewer than 2 training tiles; holding out "
            "validation tiles for calibration needs 2 of every class (add images or lower test_fraction)"
        )
    rng = np.random.default_rng(seed)
    for label in sorted(counts.index):
        members = train[labels[train] == label]
        split[rng.choice(members, max(1, round(fraction * len(members))), replace=False)] = "val"
    return split


def save_tile_classifier(model, path, classes, calibration):
    """Format, architecture hyperparameters, class names (``None``: ``"0"``..), the calibration (its ``temperature``
    and ``scores``: :class:`~dlbio.evaluate.calibration.ProbabilityCalibration`) and state dict, written atomically."""
    classes = [str(c) for c in (range(model.n_classes) if classes is None else classes)]
    if len(classes) != model.n_classes:
        raise ValueError(f"{len(classes)} class names for a classifier of {model.n_classes} classes")
    saved = {
        "format": CLASSIFIER_FORMAT,
        "format_version": CLASSIFIER_FORMAT_VERSION,
        "hyperparameters": model.hyperparameters(),
        "classes": classes,
        "temperature": float(calibration.temperature),
        "conformal_scores": torch.as_tensor(calibration.scores, dtype=torch.float64),
        "state_dict": model.state_dict(),
    }
    with atomic_write(path) as tmp:
        torch.save(saved, tmp)


def read_tile_classifier(path, device):
    """``(model, class names, (temperature, conformal scores))`` of a file written by :func:`save_tile_classifier`,
    loaded with ``weights_only=True``.

    Errors name the file: missing, not readable safely, not a tile classifier, an older format, weights that
    do not fit the architecture.
    """
    if not Path(path).is_file():
        raise InputError(f"tile classifier '{path}' does not exist")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a file it cannot read safely
        raise InputError(f"tile classifier '{path}' is not readable with weights_only=True: {err}") from None
    found = saved.get("format") if isinstance(saved, dict) else None
    if found is None and isinstance(saved, dict) and "hyperparameters" in saved:
        raise InputError(f"tile classifier '{path}' has an older format (no class names): re-run its training job")
    if found != CLASSIFIER_FORMAT:
        raise InputError(f"'{path}' is not a tile classifier (format '{found}', expected '{CLASSIFIER_FORMAT}')")
    if saved["format_version"] != CLASSIFIER_FORMAT_VERSION:
        raise InputError(
            f"tile classifier '{path}' has format version {saved['format_version']}; this dlbio reads version "
            f"{CLASSIFIER_FORMAT_VERSION}: re-run its training job"
        )
    try:
        model = TileClassifier(**saved["hyperparameters"])
        model.load_state_dict(saved["state_dict"])
    except (TypeError, RuntimeError) as err:
        raise InputError(f"tile classifier '{path}': the weights do not fit its architecture: {err}") from None
    calibration = (float(saved["temperature"]), saved["conformal_scores"].cpu().numpy())
    return model.to(device).eval(), list(saved["classes"]), calibration


def load_tile_classifier(path, device):
    """The model of :func:`read_tile_classifier`."""
    return read_tile_classifier(path, device)[0]


def fit_tile_store_classifier(store, params, device, seed):
    """Train on a tile store's ``train`` split (all classes); returns the model and every tile's class probabilities
    (uncalibrated)."""
    train = store["split"] == "train"
    model = fit_tile_classifier(
        store["images"][train], store["labels"][train], len(store["classes"]), params, device, seed
    )
    return model, predict_tiles(model, store["images"], device)
