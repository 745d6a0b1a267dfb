"""Figures of a GAN run: fixed-noise sample grids over training and the loss curves."""

from pathlib import Path

import numpy as np
from PIL import Image

from dlbio.figures import plt
from dlbio.io import atomic_write


def grid_image(samples):
    """(B, K, C, H, W) in [-1, 1] → RGB uint8 grid: rows = noise vectors, columns = outputs.

    Channel 0 is shown red and channel 1 green; a single channel is shown grey.
    """
    x = ((samples.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    b, k, c, h, w = x.shape
    rgb = np.repeat(x, 3, axis=2) if c == 1 else np.concatenate([x[:, :, :2], np.zeros_like(x[:, :, :1])], 2)
    return rgb.transpose(0, 3, 1, 4, 2).reshape(b * h, k * w, 3)


def save_grid(samples, path):
    """Write the grid atomically, so a job killed mid-write leaves no truncated PNG."""
    with atomic_write(path) as tmp:
        Image.fromarray(grid_image(samples)).save(tmp, format="PNG")


def plot_progress(grid_paths, path, columns=6):
    """Up to ``columns`` evenly spaced fixed-noise grids (``iter_NNNNNNN.png``) side by side."""
    grid_paths = sorted(grid_paths)
    picks = [grid_paths[i] for i in np.unique(np.linspace(0, len(grid_paths) - 1, columns).round().astype(int))]
    fig, axes = plt.subplots(1, len(picks), figsize=(2.6 * len(picks), 6), squeeze=False)
    for ax, grid in zip(axes[0], picks):
        ax.imshow(Image.open(grid))
        ax.set_title(f"iteration {int(Path(grid).stem.split('_')[1])}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_losses(losses, path, title):
    """Critic and generator loss per generator iteration, with a running mean."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    window = max(1, len(losses) // 50)
    for column in ("critic_loss", "generator_loss"):
        ax.plot(losses["iteration"], losses[column], alpha=0.25)
        ax.plot(losses["iteration"], losses[column].rolling(window, min_periods=1).mean(), label=column)
    ax.set_xlabel("generator iteration")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
