"""Cell statistics measured on tiles, compared between real and generated cells.

The cell length is measured on the red channel (Bgs4 outlines the cell): smooth, threshold
at a fraction of the way from the border's median to the brightest pixel, keep the largest
connected region and take its extent along its principal axis. Blur makes the measured
length a few pixels longer than the outline (a constant offset that cancels in a real vs
generated comparison); on simulated cells it follows the ground truth in ``latent.tsv``.
"""

import os

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import wasserstein_distance

from dlbio.errors import InputError

SMOOTH_SIGMA = 1.0  # pixels
THRESHOLD = 0.06  # fraction of the way from the background to the brightest pixel


def cell_length(red):
    """Length in pixels of the cell in one red-channel image ``(H, W)``; NaN when nothing stands out."""
    smooth = ndimage.gaussian_filter(red.astype(np.float32), SMOOTH_SIGMA)
    border = np.median(np.concatenate([smooth[0], smooth[-1], smooth[:, 0], smooth[:, -1]]))
    peak = smooth.max()
    if peak <= border:
        return np.nan
    regions, n = ndimage.label(smooth > border + THRESHOLD * (peak - border))
    largest = np.argmax(np.bincount(regions.ravel())[1:]) + 1
    points = np.argwhere(regions == largest).astype(np.float64)
    points -= points.mean(0)
    axis = np.linalg.svd(points, full_matrices=False)[2][0]
    along = points @ axis
    return float(along.max() - along.min() + 1)


def cell_lengths(tiles, channel=0):
    """Cell length of every uint8 tile ``(N, C, H, W)`` measured on ``channel`` (red)."""
    return np.array([cell_length(tile[channel]) for tile in tiles])


def length_distance(real_lengths, fake_lengths):
    """Wasserstein-1 distance (pixels) between two length samples, ignoring unmeasurable (NaN) cells."""
    real, fake = (np.asarray(x)[np.isfinite(x)] for x in (real_lengths, fake_lengths))
    return float(wasserstein_distance(real, fake)) if len(real) and len(fake) else np.nan


def latent_lengths(tile_paths, simulated_dir):
    """Ground-truth length of each tile from ``<simulated_dir>/latent.tsv`` (tiles read from that folder)."""
    table = pd.read_csv(os.path.join(simulated_dir, "latent.tsv"), sep="\t").set_index("path")["length"]
    relative = [os.path.relpath(p, simulated_dir) for p in tile_paths]
    missing = sorted(set(relative) - set(table.index))
    if missing:
        raise InputError(f"{simulated_dir}/latent.tsv has no row for {len(missing)} tiles, e.g. '{missing[0]}'")
    return table.loc[relative].to_numpy()
