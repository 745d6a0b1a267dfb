"""Rare cell-type augmentation (cscGAN-style): is a conditional GAN better than duplicating cells?

One run = one (fraction, seed) of an ``augment_cells`` experiment on a prepared cell graph:
the rare type's training cells are downsampled to ``fraction`` (validation and test cells stay),
the kNN graph is rebuilt on the cells that remain, and each arm adds training cells of the rare
type up to the target count:

- ``none``: nothing (the downsampled data);
- ``oversample``: kept rare training cells drawn at random with replacement (exact duplicates);
- ``gan``: cells sampled from a conditional WGAN-GP trained on the downsampled training cells.

The logistic baseline gets the added cells as extra training rows; the GNNs get them as new
training nodes, each linked (both directions) to its ``graph.k`` nearest real cells with the
kNN graph's edge weights. A duplicate is linked the same way, so to its original (distance 0,
weight 1) and the original's nearest cells. Every arm is scored on the same real test cells.
"""

import logging

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from dlbio.data.cells import SPLITS, knn_distances, link_new_cells, symmetric_edges
from dlbio.errors import InputError
from dlbio.evaluate.effect import clearly_positive, verdict
from dlbio.figures import plt
from dlbio.models.registry import CELL_BASELINE
from dlbio.train.cell_gan import fit_cell_gan, sample_cells
from dlbio.train.cell_gnn import fit_node_classifier, predict_nodes

ARMS = ("none", "oversample", "gan")
METRICS = ("rare_recall", "rare_f1", "macro_f1", "accuracy")
REFERENCES = ("none", "oversample")
VERDICT_WORDS = {"improved": "beat", "worse": "did worse than", "no clear effect": "did not beat"}

log = logging.getLogger(__name__)


def rare_class(classes, rare_type, key):
    """Index of ``rare_type`` in ``classes``; an unknown type is an error listing the dataset's types."""
    classes = list(classes)
    if rare_type not in classes:
        raise InputError(
            f"config key '{key}': cell type '{rare_type}' is not in the dataset; its types are: {', '.join(classes)}"
        )
    return classes.index(rare_type)


def kept_count(n_train, fraction):
    """Training cells of the rare type kept at ``fraction`` (rounded half up)."""
    return int(fraction * n_train + 0.5)


def check_fractions(n_train, fractions, rare_type, key):
    """Every fraction must keep at least one of the ``n_train`` training cells of the rare type."""
    for fraction in fractions:
        if kept_count(n_train, fraction) == 0:
            raise InputError(
                f"config key '{key}': fraction {fraction} keeps 0 of the {n_train} training cells of "
                f"'{rare_type}'; use fractions of at least {0.5 / n_train:.3g}"
            )


def downsample(labels, train, rare, fraction, seed):
    """Mask of the cells kept: all but a seeded random part of the rare type's training cells (``train`` mask).

    The kept cells are the first of one seeded shuffle, so for one seed a smaller fraction keeps a
    subset of a larger one's cells.
    """
    rare_train = np.random.default_rng(seed).permutation(np.flatnonzero((np.asarray(labels) == rare) & train))
    keep = np.ones(len(labels), dtype=bool)
    keep[rare_train[kept_count(len(rare_train), fraction) :]] = False
    return keep


def target_count(n_original, n_kept, target):
    """Rare training cells wanted after augmentation: ``original`` or ``target`` × the kept count."""
    return n_original if target == "original" else int(target * n_kept + 0.5)


def oversample(candidates, n, seed):
    """``n`` of ``candidates`` drawn at random with replacement (the rows to duplicate)."""
    return np.random.default_rng(seed).choice(candidates, n, replace=True)


def subset_graph(data, keep, graph, device="cpu"):
    """The cells of ``keep`` with their features, labels and masks, and a kNN graph rebuilt on them as the dataset's
    ``graph`` settings say (k, metric, symmetrize, method) on ``device``; its kernel bandwidth is ``data.bandwidth``."""
    keep = torch.as_tensor(keep)
    x = data.x[keep]
    dist, bandwidth, _ = knn_distances(x.numpy(), graph["k"], graph["metric"], graph["method"], device=device)
    edge_index, edge_weight = symmetric_edges(dist, bandwidth, graph["symmetrize"])
    masks = {f"{s}_mask": data[f"{s}_mask"][keep] for s in SPLITS}
    return Data(x=x, y=data.y[keep], edge_index=edge_index, edge_weight=edge_weight, bandwidth=bandwidth, **masks)


def add_training_nodes(data, x_new, label, graph, device="cpu"):
    """``data`` (from :func:`subset_graph`) with ``x_new`` appended as training nodes of class ``label``, linked both
    ways to their nearest cells (:func:`dlbio.data.cells.link_new_cells`); the old edges stay as they were."""
    n = len(x_new)
    if n == 0:
        return data
    edge_index, edge_weight = link_new_cells(
        data.x.numpy(), x_new, graph, data.bandwidth, both_ways=True, device=device
    )
    masks = {f"{s}_mask": torch.cat([data[f"{s}_mask"], torch.full((n,), s == "train")]) for s in SPLITS}
    return Data(
        bandwidth=data.bandwidth,
        x=torch.cat([data.x, torch.as_tensor(x_new, dtype=data.x.dtype)]),
        y=torch.cat([data.y, torch.full((n,), label, dtype=data.y.dtype)]),
        edge_index=torch.cat([data.edge_index, edge_index], 1),
        edge_weight=torch.cat([data.edge_weight, edge_weight]),
        **masks,
    )


def score(y_true, y_pred, rare, n_classes):
    """Rare-type recall and F1, macro-F1 over every class and accuracy."""
    from dlbio.evaluate.classification import per_class_metrics  # local, as below: scikit-learn costs ~2 s to import

    per_class = per_class_metrics(y_true, y_pred, n_classes)
    return {
        "rare_recall": float(per_class["recall"][rare]),
        "rare_f1": float(per_class["f1"][rare]),
        "macro_f1": float(per_class["f1"].mean()),
        "accuracy": float(np.mean(y_true == y_pred)),
    }


def fit_and_predict(model, data, experiment, device, seed):
    """Train ``model`` (``logreg`` or a GNN arch, with the experiment's settings) on the training nodes;
    predicted classes of the test nodes."""
    train, test = data.train_mask.numpy(), data.test_mask.numpy()
    if model == CELL_BASELINE:
        from dlbio.train.cell_baseline import fit_logistic

        x, y = data.x.numpy(), data.y.numpy()
        return fit_logistic(x[train], y[train], seed=seed, **experiment["baseline"]).predict(x[test])
    net, _ = fit_node_classifier(model, data, experiment["gnn"], device, seed)
    return predict_nodes(net, data, device)[0].argmax(1)[test]


def run_augmentation(data, classes, name, experiment, graph, fraction, seed, device):
    """One (fraction, seed) of experiment ``augment_cells.<name>`` on a prepared cell graph ``data``, built
    with the dataset's ``graph`` settings.

    Returns the scores of every arm × model (a table), the generated cells, the node ids of the
    kept rare training cells and the GAN's losses.
    """
    key = f"augment_cells.{name}"
    rare = rare_class(classes, experiment["rare_type"], f"{key}.rare_type")
    y, train = data.y.numpy(), data.train_mask.numpy()
    n_original = int(((y == rare) & train).sum())
    check_fractions(n_original, [fraction], experiment["rare_type"], f"{key}.fractions")
    keep = downsample(y, train, rare, fraction, seed)
    real = subset_graph(data, keep, graph, device)
    kept_rare = np.flatnonzero((real.y.numpy() == rare) & real.train_mask.numpy())
    n_add = max(target_count(n_original, len(kept_rare), experiment["target"]) - len(kept_rare), 0)
    log.info("%s: fraction %s, seed %d: %d of %d training cells of '%s' kept, %d added per arm",
             key, fraction, seed, len(kept_rare), n_original, experiment["rare_type"], n_add)
    added = {"none": real.x.numpy()[:0], "oversample": real.x.numpy()[oversample(kept_rare, n_add, seed)]}
    if n_add:
        train = real.train_mask.numpy()
        generator, losses = fit_cell_gan(real.x[train], real.y[train], len(classes), experiment["gan"], device, seed)
        added["gan"] = sample_cells(generator, rare, n_add, seed, device)
    else:  # nothing to add: every arm is the downsampled data
        added["gan"], losses = added["none"], pd.DataFrame(columns=["iteration", "critic_loss", "generator_loss"])
    rows = []
    for arm in ARMS:
        augmented = add_training_nodes(real, added[arm], rare, graph, device)
        y_test = augmented.y.numpy()[augmented.test_mask.numpy()]
        for model in experiment["models"]:
            predicted = fit_and_predict(model, augmented, experiment, device, seed)
            rows.append({"fraction": fraction, "seed": seed, "arm": arm, "model": model,
                         "n_rare_kept": len(kept_rare), "n_added": len(added[arm]),
                         **score(y_test, predicted, rare, len(classes))})
            log.info("%s", rows[-1])
    return pd.DataFrame(rows), added["gan"], np.flatnonzero(keep)[kept_rare], losses


def paired_deltas(runs):
    """Add ``<metric>_vs_none`` and ``<metric>_vs_oversample``: each run minus that arm's run of the same
    fraction, seed and model."""
    key = ["fraction", "seed", "model"]
    runs = runs.copy()
    for reference in REFERENCES:
        base = runs[runs["arm"] == reference].set_index(key)[list(METRICS)]
        aligned = base.loc[pd.MultiIndex.from_frame(runs[key])].to_numpy()
        runs[[f"{m}_vs_{reference}" for m in METRICS]] = runs[list(METRICS)].to_numpy() - aligned
    return runs


def summarize(runs):
    """Mean and standard deviation over seeds of every metric and paired delta, per fraction × model × arm."""
    columns = [c for c in runs.columns if c.split("_vs_")[0] in METRICS]
    summary = runs.groupby(["fraction", "model", "arm"], sort=False)[columns].agg(["mean", "std"])
    summary.columns = [f"{c}_{stat}" for c, stat in summary.columns]
    n_seeds = runs.groupby(["fraction", "model", "arm"], sort=False)["seed"].nunique().rename("n_seeds")
    return pd.concat([n_seeds, summary], axis=1).reset_index()


def verdicts(summary, metric="rare_f1"):
    """One plain sentence per fraction × model on whether the GAN arm beat no augmentation and oversampling."""
    lines = []
    for row in summary[summary["arm"] == "gan"].itertuples():
        parts = []
        for reference in REFERENCES:
            mean, std = getattr(row, f"{metric}_vs_{reference}_mean"), getattr(row, f"{metric}_vs_{reference}_std")
            spread = "one seed: no spread" if np.isnan(std) else f"± {std:.3f}"
            words = VERDICT_WORDS[verdict(mean, std)]
            within = ": within the spread over seeds" if words == "did not beat" else ""
            parts.append(f"{words} {reference} ({mean:+.3f} {spread}{within})")
        lines.append(f"fraction {row.fraction:g}, {row.model}: GAN augmentation {'; '.join(parts)} on {metric} "
                     f"over {row.n_seeds} seeds")
    return lines


def headline(runs, summary, name, experiment, metric="rare_f1"):
    """Flat dict for summary.json: the experiment; the GAN arm's paired deltas over every fraction, model
    and seed (mean, standard deviation, and in how many fraction × model cells it is clearly positive);
    every fraction × model × arm mean."""
    gan, gan_runs = summary[summary["arm"] == "gan"], runs[runs["arm"] == "gan"]
    out = {"experiment": name, "dataset": experiment["dataset"], "rare_type": experiment["rare_type"],
           "n_seeds": int(summary["n_seeds"].min()), "metric": metric}
    for reference in REFERENCES:
        deltas = gan_runs[f"{metric}_vs_{reference}"]
        out[f"{metric}_gan_vs_{reference}"] = round(float(deltas.mean()), 4)
        out[f"{metric}_gan_vs_{reference}_std"] = round(float(deltas.std()), 4) if len(deltas) > 1 else None
        wins = clearly_positive(gan[f"{metric}_vs_{reference}_mean"], gan[f"{metric}_vs_{reference}_std"])
        out[f"{metric}_gan_vs_{reference}_wins"] = f"{int(wins.sum())}/{len(gan)}"
    for row in summary.itertuples():
        for m in METRICS:
            out[f"{m}/{row.fraction:g}/{row.model}/{row.arm}"] = round(float(getattr(row, f"{m}_mean")), 4)
    return out


def plot_rare_f1(summary, path, title, metric="rare_f1"):
    """``metric`` (mean ± std over seeds) against the kept fraction: one panel per model, one line per arm."""
    models, fractions = list(dict.fromkeys(summary["model"])), sorted(set(summary["fraction"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models) + 1, 3.8), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        for arm in ARMS:
            rows = summary[(summary["model"] == model) & (summary["arm"] == arm)].sort_values("fraction")
            ax.errorbar(rows["fraction"], rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0),
                        marker="o", capsize=3, label=arm)
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel("fraction of the rare type's training cells kept")
        ax.set_title(model)
    axes[0, 0].set_ylabel(f"{metric} (test cells)")
    axes[0, -1].legend(title="arm")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_generated(data, rare, generated, path, title):
    """Real training cells and generated rare cells on the first two principal components (the features).

    ``generated``: one ``(fraction, cells, kept node ids)`` per panel; kept rare cells are dark,
    dropped ones light, generated ones orange, every other type grey.
    """
    train = data.train_mask.numpy()
    x, y = data.x.numpy(), data.y.numpy()
    xy, rare_train = x[:, :2], np.flatnonzero(train & (y == rare))
    fig, axes = plt.subplots(1, len(generated), figsize=(4.5 * len(generated), 4.3), squeeze=False,
                             sharex=True, sharey=True)
    for ax, (fraction, cells, kept) in zip(axes[0], generated):
        ax.scatter(*xy[train & (y != rare)].T, s=4, color="0.8", label="other types (real)")
        dropped = np.setdiff1d(rare_train, kept)
        ax.scatter(*xy[dropped].T, s=10, color="lightskyblue", label="rare, dropped (real)")
        ax.scatter(*xy[kept].T, s=14, color="navy", label="rare, kept (real)")
        if len(cells):
            ax.scatter(*cells[:, :2].T, s=10, color="darkorange", marker="x", label="rare, generated")
        ax.set_title(f"fraction {fraction:g}: {len(kept)} kept, {len(cells)} generated", fontsize=9)
        ax.set_xlabel("PC1")
    axes[0, 0].set_ylabel("PC2")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
