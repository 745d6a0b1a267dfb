"""Distances between real and generated tiles in a domain classifier's feature space.

The feature extractor is a :class:`dlbio.models.tile_classifier.TileClassifier` trained on the
real training tiles (no downloaded Inception weights): its penultimate features feed
torchmetrics' Fréchet distance (FID) and kernel distance (KID) as a custom feature extractor,
and ``prdc`` (Naeem et al., 2020) for precision, recall, density and coverage.
"""

import contextlib
import sys
import warnings

import torch
from prdc import compute_prdc
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from dlbio.data.tile_batches import to_unit_range
from dlbio.errors import InputError
from dlbio.train.tile_classifier import tile_features


class DomainFeatures(nn.Module):
    """uint8 tiles ``(N, C, H, W)`` → the classifier's penultimate features; always in eval mode."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.head.in_features  # read by torchmetrics instead of a dummy forward pass

    def train(self, mode=True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, tiles):
        return self.classifier.features(to_unit_range(tiles))


def _update(metric, real, fake, device, batch_size):
    for tiles, is_real in ((real, True), (fake, False)):
        for i in range(0, len(tiles), batch_size):
            metric.update(torch.as_tensor(tiles[i : i + batch_size]).to(device), real=is_real)


def domain_metrics(classifier, real, fake, device, nearest_k, kid_subsets, kid_subset_size, seed, batch_size=256):
    """FID, KID (mean and std over ``kid_subsets`` random subsets) and PRDC of uint8 tile sets.

    ``kid_subset_size`` is capped at the smaller set; PRDC needs more than ``nearest_k`` tiles
    in each set. KID's subsets are drawn from ``seed``, so the result is reproducible.
    """
    if min(len(real), len(fake)) <= nearest_k:
        raise InputError(
            f"precision/recall need more than nearest_k = {nearest_k} tiles per set; got {len(real)} real and "
            f"{len(fake)} generated"
        )
    extractor = DomainFeatures(classifier)
    fid = FrechetInceptionDistance(feature=extractor).to(device)
    _update(fid, real, fake, device, batch_size)
    subset = min(kid_subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # it warns that it keeps every feature vector: few here
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance` will save")
        kid = KernelInceptionDistance(feature=extractor, subsets=kid_subsets, subset_size=subset).to(device)
    _update(kid, real, fake, device, batch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    with contextlib.redirect_stdout(sys.stderr):  # prdc prints the set sizes
        prdc = compute_prdc(
            tile_features(classifier, real, device, batch_size),
            tile_features(classifier, fake, device, batch_size),
            nearest_k,
        )
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)} | {
        k: float(v) for k, v in prdc.items()
    }
