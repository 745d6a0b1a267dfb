"""Headline rows of ``results/summary.tsv``: each path's last step writes its own ``headline.tsv`` from the
results it has just made; the summary stacks the files that the rules declared.

One row per headline: the value, what it is compared with (baseline, real-vs-real floor, real-only
training, training proportions), the difference and, where seeds or splits give one, its spread.
A GAN's C2ST row also carries the C2ST verdict; an inconclusive C2ST (the critic did not learn) has no value.

The GAN runs' evaluation table is stacked here too (:func:`evaluation_table`), so that the jobs stacking results
import pandas alone.
"""

import pandas as pd

from dlbio.io import read_json

COLUMNS = ["path", "name", "metric", "value", "reference", "reference_value", "difference", "spread", "verdict"]
TEXT = ["path", "name", "metric", "reference", "verdict"]


def row(path, name, metric, value, reference, reference_value, spread=None, verdict=None):
    difference = None if value is None or reference_value is None else value - reference_value
    return dict(zip(COLUMNS, [path, name, metric, value, reference, reference_value, difference, spread, verdict]))


def write_headline(rows, path):
    pd.DataFrame(rows, columns=COLUMNS).round(4).to_csv(path, sep="\t", index=False)


def model_vs_baseline(path, name, comparison, baseline):
    """Best model of a comparison table (rmse: lowest mean; other metrics: highest) against the baseline, with the
    spread and verdict of their replicate-paired difference."""
    table = comparison[comparison["kind"] == "replicates"].set_index("model")
    metric = next(m for m in ("macro_f1", "rmse", "roc_auc") if f"{m}_mean" in table)
    models = table.drop(index=baseline)[f"{metric}_mean"]
    best = table.loc[models.idxmin() if metric == "rmse" else models.idxmax()]
    replicates = f", mean of {int(best['n_replicates'])} replicates" if best["n_replicates"] > 1 else ""
    return [
        row(
            path,
            name,
            f"{metric} of best model ({best.name}){replicates}",
            best[f"{metric}_mean"],
            baseline,
            table.loc[baseline, f"{metric}_mean"],
            best[f"{metric}_vs_{baseline}_std"],
            best[f"{metric}_verdict"],
        )
    ]


def gan_rows(name, scores):
    """The C2ST estimate beside its real-vs-real floor and the mode coverage of a run's evaluation."""
    return [
        row(
            "gan",
            name,
            "C2ST Wasserstein estimate (real vs generated)",
            scores["c2st_wasserstein_mean"],
            "real-vs-real floor",
            scores["floor_wasserstein_mean"],
            scores["c2st_wasserstein_std"],
            scores["c2st_verdict"],
        ),
        row("gan", name, "mode total-variation distance", scores["mode_tv"], "perfect coverage", 0.0),
    ]


def augment_images_rows(name, summary):
    """Macro-F1 with synthetic tiles beside real only at the smallest fraction (an experiment's summary table)."""
    first = summary[summary["metric"] == "macro_f1"].iloc[0]
    metric = f"macro_f1, real + synthetic, {first['fraction']:g} of real tiles"
    value, reference = first["real+synthetic_mean"], first["real_mean"]
    return [row("augment_images", name, metric, value, "real only", reference, first["delta_std"])]


def augment_cells_rows(name, record):
    """The GAN arm's paired change of the rare type's metric against each reference arm (an experiment's record)."""
    metric = record["metric"]
    return [
        row(
            "augment_cells",
            name,
            f"{metric} of {record['rare_type']}: change with GAN cells",
            record[f"{metric}_gan_vs_{reference}"],
            f"{reference} (change 0)",
            0.0,
            record[f"{metric}_gan_vs_{reference}_std"],
        )
        for reference in ("none", "oversample")
    ]


def motif_rows(name, counts):
    """Per algorithm: the fraction of generated sequences carrying a motif and, with several modes, the
    first mode's share of the single-motif carriers; both beside the training set's."""
    table = counts.set_index("algorithm")
    training, rows = table.loc["training"], []
    for algorithm, generated in table.drop(index="training").iterrows():
        metric = f"carry a motif ({algorithm})"
        rows.append(row("motifs", name, metric, generated["fraction_any"], "training", training["fraction_any"]))
        if "share_B" in table:
            metric = f"share of motif A ({algorithm})"
            rows.append(row("motifs", name, metric, generated["share_A"], "training", training["share_A"]))
    return rows


def summary_table(headlines):
    """The rows of every ``headline.tsv`` in ``headlines``, in that order."""
    tables = [pd.read_csv(path, sep="\t", dtype=dict.fromkeys(TEXT, str)) for path in headlines]
    return pd.concat(tables, ignore_index=True).round(4) if tables else pd.DataFrame(columns=COLUMNS)


def evaluation_table(paths):
    """One row per GAN run's ``evaluation.json``: every value that is not per class (no ``/`` in its name)."""
    rows = [{k: v for k, v in read_json(p).items() if "/" not in k} for p in paths]
    return pd.DataFrame(rows)
