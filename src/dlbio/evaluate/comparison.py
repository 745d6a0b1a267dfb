"""Model-versus-baseline tables and figures, shared by every path."""

import numpy as np
import pandas as pd

from dlbio.figures import plt
from dlbio.io import read_json


def compare_models(metrics_paths, baseline, metrics):
    """One row per model with the headline ``metrics`` and their difference to ``baseline``."""
    table = pd.DataFrame([read_json(p) for p in metrics_paths]).set_index("model")[list(metrics)].astype(float)
    for metric in metrics:
        table[f"{metric}_vs_{baseline}"] = table[metric] - table.loc[baseline, metric]
    return table.round(4).reset_index()


def plot_comparison(table, path, title, metrics):
    """Grouped bars of the headline ``metrics`` per model."""
    fig, ax = plt.subplots(figsize=(2 + 1.2 * len(table), 4))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        ax.bar(np.arange(len(table)) + i * width, table[metric], width, label=metric)
    ax.set_xticks(np.arange(len(table)) + width * (len(metrics) - 1) / 2, table["model"])
    ax.axhline(0, color="k", lw=0.5)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
