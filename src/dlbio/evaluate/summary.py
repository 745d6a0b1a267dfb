"""``results/summary.tsv``: the headline number of every path beside its reference.

One row per headline: the value, what it is compared with (baseline, real-vs-real floor, real-only
training, training proportions), the difference and, where seeds or splits give one, its spread.
A GAN's C2ST row also carries the C2ST verdict; an inconclusive C2ST (the critic did not learn) has no value.
"""

import pandas as pd

from dlbio.io import read_json

COLUMNS = ["path", "name", "metric", "value", "reference", "reference_value", "difference", "spread", "verdict"]


def row(path, name, metric, value, reference, reference_value, spread=None, verdict=None):
    difference = None if value is None or reference_value is None else value - reference_value
    return dict(zip(COLUMNS, [path, name, metric, value, reference, reference_value, difference, spread, verdict]))


def model_vs_baseline(path, name, comparison, baseline):
    """Best model of a comparison table (rmse: lowest; other metrics: highest) against the baseline."""
    table = pd.read_csv(comparison, sep="\t").set_index("model")
    metric = next(m for m in ("macro_f1", "rmse", "roc_auc") if m in table)
    models = table.drop(index=baseline)[metric]
    best = models.idxmin() if metric == "rmse" else models.idxmax()
    return [row(path, name, f"{metric} of best model ({best})", models[best], baseline, table.loc[baseline, metric])]


def gan_rows(name, evaluation):
    scores = read_json(evaluation)
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
    record = read_json(summary)
    prefix = f"fraction_{record['headline_fraction']:g}/{record['headline_metric']}"
    return [
        row(
            "augment_images",
            name,
            f"{record['headline_metric']}, real + synthetic, {record['headline_fraction']:g} of real tiles",
            record[f"{prefix}/real+synthetic_mean"],
            "real only",
            record[f"{prefix}/real_mean"],
            record[f"{prefix}/delta_std"],
        )
    ]


def augment_cells_rows(name, summary):
    record = read_json(summary)
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
    table = pd.read_csv(counts, sep="\t").set_index("algorithm")
    training, rows = table.loc["training"], []
    for algorithm, generated in table.drop(index="training").iterrows():
        metric = f"carry a motif ({algorithm})"
        rows.append(row("motifs", name, metric, generated["fraction_any"], "training", training["fraction_any"]))
        if "share_B" in table:
            metric = f"share of motif A ({algorithm})"
            rows.append(row("motifs", name, metric, generated["share_A"], "training", training["share_A"]))
    return rows


def summary_table(cells, molecules, gan, augment_images, augment_cells, motifs):
    """Every headline row; each argument maps a dataset/run/experiment name to its result file."""
    rows = [r for name, p in cells.items() for r in model_vs_baseline("cells", name, p, "logreg")]
    rows += [r for name, p in molecules.items() for r in model_vs_baseline("molecules", name, p, "fp_rf")]
    rows += [r for name, p in gan.items() for r in gan_rows(name, p)]
    rows += [r for name, p in augment_images.items() for r in augment_images_rows(name, p)]
    rows += [r for name, p in augment_cells.items() for r in augment_cells_rows(name, p)]
    rows += [r for name, p in motifs.items() for r in motif_rows(name, p)]
    return pd.DataFrame(rows, columns=COLUMNS).round(4)
