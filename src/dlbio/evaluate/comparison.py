"""Model-versus-baseline tables and figures over replicates, shared by the cell and molecule paths.

A replicate is one training of every model and of the baseline with the same seed (and split). Each
model gets the mean and standard deviation of every headline metric over its replicates, and the
replicate-paired difference to the baseline (model minus baseline, replicate by replicate) with its
mean, spread and verdict from :func:`dlbio.evaluate.effect.verdict`, read so that ``improved`` always
means better (lower for errors). With one replicate there is no spread and no verdict.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from dlbio.evaluate.effect import verdict
from dlbio.io import read_json

LOWER_IS_BETTER = ("rmse", "mae", "ece", "ece_uncalibrated")


def replicate_of(path):
    """The replicate index of a result file ``.../<model>/rep<r>/<file>``."""
    return int(Path(path).parent.name.removeprefix("rep"))


def by_model(paths):
    """``{model: [its result files]}`` of result files ``.../<model>/rep<r>/<file>``, in their order."""
    models = {}
    for path in paths:
        models.setdefault(Path(path).parent.parent.name, []).append(path)
    return models


def replicate_metrics(metrics_paths, metrics):
    """Long table: one row per (model, replicate) with the headline ``metrics``."""
    rows = [{"replicate": replicate_of(p)} | read_json(p) for p in metrics_paths]
    return pd.DataFrame(rows)[["model", "replicate", *metrics]].astype({m: float for m in metrics})


def read_replicates(prediction_paths, targets, same_split=True):
    """The ``predictions.tsv`` of a molecule model's replicates (written by
    :func:`dlbio.evaluate.properties.evaluate_property_predictions`): ``(tables, predictions (R, M, T))``. The
    replicates must have predicted the same molecules (in the same order) and, with ``same_split``, on the same
    split."""
    tables = [pd.read_csv(p, sep="\t", dtype={"id": str, "split": str}) for p in prediction_paths]
    keys = ["id", "split"] if same_split else ["id"]
    if any(not t[keys].equals(tables[0][keys]) for t in tables[1:]):
        raise ValueError(f"{prediction_paths}: replicates predicted different molecules or splits")
    return tables, np.stack([t[[f"predicted_{t}" for t in targets]].to_numpy(float) for t in tables])


def paired_verdict(differences, metric):
    """Verdict of replicate-paired differences (model − baseline) of ``metric``; None with fewer than two."""
    if len(differences) < 2:
        return None
    sign = -1 if metric in LOWER_IS_BETTER else 1
    return verdict(sign * differences.mean(), differences.std())


def compare_models(metrics_paths, baseline, metrics):
    """One row per model (``kind`` replicates): ``n_replicates``, ``<metric>_mean/_std`` and, paired with ``baseline`` replicate by
    replicate, ``<metric>_vs_<baseline>_mean/_std`` and ``<metric>_verdict`` (std over replicates, ddof 1)."""
    long = replicate_metrics(metrics_paths, metrics)
    base = long[long["model"] == baseline].set_index("replicate")[list(metrics)]
    rows = []
    for model, runs in long.groupby("model", sort=False):
        runs = runs.set_index("replicate")[list(metrics)]
        row = {"model": model, "kind": "replicates", "n_replicates": len(runs)}
        for metric in metrics:
            diff = (runs[metric] - base[metric].reindex(runs.index)).dropna()
            row |= {f"{metric}_mean": runs[metric].mean(), f"{metric}_std": runs[metric].std()}
            row |= {f"{metric}_vs_{baseline}_mean": diff.mean(), f"{metric}_vs_{baseline}_std": diff.std()}
            row[f"{metric}_verdict"] = None if model == baseline else paired_verdict(diff, metric)
        rows.append(row)
    return pd.DataFrame(rows).round(4)


def describe_cells_dataset(entry, knn_recall):
    """What sets a cells dataset's models apart from another's trained on the same cells: the embedding (and
    its batch integration), the split, and the kNN search with its measured recall."""
    split = entry["split"]
    test = split["test"]
    held_out = ", ".join(map(str, test)) if isinstance(test, list) else f"{test:.0%} of batches"
    column = {"obs": split["column"], "batch": entry["batch_key"]}.get(split["method"])
    split_text = f"held-out {column}: {held_out}" if column else "random"
    integration = entry["preprocess"]["integration"]
    return {
        "embedding": entry["preprocess"]["embedding"] + ("" if integration == "none" else f" + {integration}"),
        "split": split_text,
        "knn": f"{entry['graph']['method']} (recall {knn_recall:.3f})",
    }


def stack_comparisons(tables, descriptions):
    """One table of every dataset's model comparison (``tables``: dataset → table), each row led by the
    dataset and its description (``descriptions``: dataset → dict, e.g. :func:`describe_cells_dataset`)."""
    return pd.concat(
        [
            pd.DataFrame([{"dataset": name} | descriptions[name]] * len(table)).join(table)
            for name, table in tables.items()
        ],
        ignore_index=True,
    )


def plot_comparison(table, path, title, metrics):
    """Grouped bars of the headline ``metrics`` per model: means with ± std error bars over replicates."""
    from dlbio.figures import plt  # local: the jobs that only read replicates' results need no matplotlib

    fig, ax = plt.subplots(figsize=(2 + 1.2 * len(table), 4))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        x = np.arange(len(table)) + i * width
        ax.bar(x, table[f"{metric}_mean"], width, yerr=table[f"{metric}_std"].fillna(0), capsize=2, label=metric)
    ax.set_xticks(np.arange(len(table)) + width * (len(metrics) - 1) / 2, table["model"], rotation=20)
    ax.axhline(0, color="k", lw=0.5)
    n = table["n_replicates"].max()
    ax.set_title(f"{title} (mean ± std over {n} replicates)" if n > 1 else title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
