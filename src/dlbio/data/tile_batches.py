"""Tiles as torch batches: uint8 tiles of a store (:mod:`dlbio.data.tiles`) → float tensors in [-1, 1].

Kept apart from :mod:`dlbio.data.tiles` so that jobs that only read or write tile stores never import torch.
:func:`to_unit_range` is the mapping models see (``x / 127.5 - 1``, the range of a tanh generator);
:class:`TileSampler` draws randomly flipped batches of training tiles.
"""

import torch


def to_unit_range(images):
    """uint8 tiles → float32 tensor in [-1, 1] (``x / 127.5 - 1``), the range models see."""
    return torch.as_tensor(images).float() / 127.5 - 1


def random_flips(tiles, rng):
    """Flip each tile (first dimension) vertically and horizontally, each with probability 1/2."""
    for dim in (-2, -1):
        flip = (torch.rand(len(tiles), generator=rng) < 0.5).to(tiles.device)
        tiles = torch.where(flip.view(-1, *[1] * (tiles.dim() - 1)), tiles.flip(dim), tiles)
    return tiles


class TileSampler:
    """Random batches of real tiles (per class for class-aware generators) with random flips.

    ``images`` are the uint8 training tiles (N, C, H, W); they stay uint8 on ``device`` and are
    mapped to [-1, 1] per batch by :func:`to_unit_range`.
    """

    def __init__(self, images, labels, n_groups, device, rng):
        self.images = torch.as_tensor(images).to(device)
        labels = torch.as_tensor(labels)
        groups = (
            [torch.arange(len(labels))] if n_groups == 1 else [torch.where(labels == k)[0] for k in range(n_groups)]
        )
        self.groups, self.rng = groups, rng

    def batch(self, size):
        """(size, K, C, H, W) float tiles in [-1, 1]."""
        picks = [g[torch.randint(len(g), (size,), generator=self.rng)] for g in self.groups]
        x = self.images[torch.stack(picks, 1).to(self.images.device)]
        return to_unit_range(random_flips(x, self.rng))  # flip uint8: 4× less memory traffic than floats
