"""Figures of a GAN evaluation: scores against training iteration and real beside generated tiles."""

import numpy as np

from dlbio.data.tiles import plot_class_montage
from dlbio.figures import plt

PANELS = {  # column → panel title (lower is better unless marked ↑)
    "c2st_wasserstein_mean": "C2ST Wasserstein (floor dashed)",
    "c2st_accuracy_mean": "C2ST accuracy (0.5 = same)",
    "fid": "domain FID",
    "kid": "domain KID",
    "precision": "precision ↑",
    "recall": "recall ↑",
    "coverage": "coverage ↑",
    "mode_tv": "mode TV distance",
    "class_agreement": "class agreement ↑",
    "cell_length_wasserstein": "cell length W1 (px)",
}

LOG_SCALE = ("fid", "kid")


def plot_scores(table, path, title):
    """One panel per score present in ``table`` (a row per snapshot, column ``iteration``)."""
    columns = [c for c in PANELS if c in table and table[c].notna().any()]
    n_cols = min(4, len(columns))
    n_rows = -(-len(columns) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    for ax, column in zip(axes.flat, columns):
        std = column.replace("_mean", "_std")
        ax.errorbar(table["iteration"], table[column], yerr=table[std] if std != column else None, marker="o", ms=3)
        floor = column.replace("c2st_", "floor_")
        if floor != column and floor in table:
            ax.plot(table["iteration"], table[floor], "k--", lw=1)
        if column in LOG_SCALE and (table[column] > 0).all():
            ax.set_yscale("log")  # the first snapshots are orders of magnitude away
        ax.set_title(PANELS[column], fontsize=9)
        ax.set_xlabel("generator iteration", fontsize=8)
    for ax in axes.flat[len(columns) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_real_fake(real, real_labels, fake, fake_rows, classes, path, title, per_class=4):
    """Each class's row: ``per_class`` real test tiles, then up to ``per_class`` generated tiles of that row.

    ``fake_rows`` gives each generated tile's row (class code; −1 = not shown).
    """
    n = min(per_class, np.bincount(real_labels, minlength=len(classes)).min())
    picks = [
        (tiles[labels == k][:n], np.full(min(n, (labels == k).sum()), k))
        for k in range(len(classes))
        for tiles, labels in ((real, real_labels), (fake, np.asarray(fake_rows)))
    ]
    images, labels = (np.concatenate(part) for part in zip(*picks))
    plot_class_montage(images, labels, classes, path, per_class=2 * n, title=f"{title}: {n} real | {n} generated")
