"""Conditional MLP generator and critic for cells in PCA space (cscGAN-style: conditioned on cell type).

Both nets read the cell type as a one-hot vector concatenated to their input. They work on
scaled features; the generator keeps the shift and scale (``mean``, ``std``, per feature) as
buffers, so :meth:`ConditionalGenerator.to_features` maps its output back to PCA units.
"""

import torch
import torch.nn.functional as F
from torch import nn


def mlp(in_dim, hidden, layers, out_dim):
    """``layers`` hidden Linear + LeakyReLU(0.2) blocks, then a linear output (no normalisation: WGAN-GP)."""
    blocks, width = [], in_dim
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, out_dim))


class ConditionalGenerator(nn.Module):
    """Noise ``z`` and a cell type → one cell's scaled features."""

    def __init__(self, n_features, n_classes, nz, hidden, layers, mean=None, std=None):
        super().__init__()
        self.nz, self.n_classes = nz, n_classes
        self.net = mlp(nz + n_classes, hidden, layers, n_features)
        self.register_buffer("mean", torch.zeros(n_features) if mean is None else torch.as_tensor(mean).float())
        self.register_buffer("std", torch.ones(n_features) if std is None else torch.as_tensor(std).float())

    def forward(self, z, labels):
        return self.net(torch.cat([z, F.one_hot(labels, self.n_classes).float()], 1))

    def to_features(self, x):
        """Scaled output → the original (PCA) feature units."""
        return x * self.std + self.mean


class ConditionalCritic(nn.Module):
    """Scaled features and a cell type → one unbounded score per cell."""

    def __init__(self, n_features, n_classes, hidden, layers):
        super().__init__()
        self.n_classes = n_classes
        self.net = mlp(n_features + n_classes, hidden, layers, 1)

    def forward(self, x, labels):
        return self.net(torch.cat([x, F.one_hot(labels, self.n_classes).float()], 1)).squeeze(1)
