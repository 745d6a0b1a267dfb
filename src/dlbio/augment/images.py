"""Image augmentation: does adding GAN tiles help a tile classifier when real tiles are scarce?

One run = one (fraction, seed) of an ``augment_images`` experiment, with the classes of its GAN run:

- the real training tiles are subsampled per class to ``fraction``: ``n_k = round(fraction · N_k)``
  (half up) of the ``N_k`` training tiles of class k; a fraction that leaves a class without tiles
  is an error;
- arm ``real``: a :class:`~dlbio.models.tile_classifier.TileClassifier` trained on the subsample;
- arm ``real+synthetic``: the same subsample plus ``max(1, round(ratio · n_k))`` tiles of class k
  drawn from the class-aware (star-shaped) generator, trained with the same seed;
- both arms are scored on the untouched real test split.

The seed is expanded (NumPy ``SeedSequence``) into independent streams for the subsample, the
classifier (initialisation, shuffling, flips) and the synthetic draws. With one seed the subsample
at a smaller fraction is a subset of the one at a larger fraction. ``epochs`` are passes over an
arm's training set, so the augmented arm takes ``1 + ratio`` times as many steps.

Summaries pair the arms by seed: the difference is ``real+synthetic − real`` per seed, then its
mean and standard deviation (ddof 1) over seeds. A difference is called an improvement only when
its mean exceeds one standard deviation above zero (a loss likewise below; dlbio.evaluate.effect), otherwise
"no clear effect".
"""

import logging

import numpy as np
import pandas as pd

from dlbio.data.tiles import training_tiles
from dlbio.errors import InputError
from dlbio.evaluate.effect import verdict
from dlbio.figures import plt

ARMS = ("real", "real+synthetic")
HEADLINE = ("accuracy", "macro_f1")
ID_COLUMNS = ("fraction", "seed", "arm", "n_real", "n_synthetic")
STATS = tuple(f"{name}_{stat}" for name in (*ARMS, "delta") for stat in ("mean", "std"))  # summary columns
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- data of one run


def held_out_tiles(store, classes):
    """Real test-split tiles of ``classes`` with labels coded as by :func:`~dlbio.data.tiles.training_tiles`."""
    swapped = store | {"split": np.where(store["split"] == "test", "train", "test")}
    images, labels, _ = training_tiles(swapped, classes)
    absent = [c for k, c in enumerate(classes) if not (labels == k).any()]
    if absent:
        raise InputError(f"the tile store has no test tiles of class(es) {absent}; every class needs some to be scored")
    return images, labels


def stratified_subsample(labels, fraction, seed, classes, key):
    """Sorted indices of a seeded per-class subsample (sizes from :func:`subsample_counts`)."""
    from dlbio.evaluate.feasibility import subsample_counts  # local, as below: torch costs ~2 s to import

    labels = np.asarray(labels)
    kept = subsample_counts(np.bincount(labels, minlength=len(classes)), fraction, classes, key)
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(labels == k))[:n] for k, n in enumerate(kept)]
    return np.sort(np.concatenate(picks))


def synthetic_counts(real_counts, ratio):
    """Synthetic tiles per class: ``max(1, round(ratio · real))``, half up."""
    return np.maximum(1, np.floor(ratio * np.asarray(real_counts) + 0.5)).astype(int)


def draw_synthetic(generator, counts, seed, device):
    """``counts[k]`` uint8 tiles of class k from a class-aware generator, and their labels."""
    from dlbio.train.gan import sample_tiles

    tiles, outputs = sample_tiles(generator, int(max(counts)), seed, device)
    keep = np.concatenate([np.flatnonzero(outputs == k)[:n] for k, n in enumerate(counts)])
    return tiles[keep], outputs[keep]


def class_aware_generator(path, run, classes, channels, size, device, key):
    """Load a run's generator; one without one output per class (≥ 2 classes) is an error naming ``key``."""
    from dlbio.train.gan import load_generator

    generator = load_generator(path, run, len(classes), channels, size, device)
    if generator.n_outputs != len(classes) or len(classes) < 2:
        raise InputError(
            f"config key '{key}': the generator of arch '{run['arch']}' has {generator.n_outputs} output(s) for "
            f"{len(classes)} class(es); the experiment needs one output per class (arch 'dcgan-starshaped')"
        )
    return generator


# ---------------------------------------------------------------- one run: both arms


def arm_metrics(y_true, y_pred, classes):
    """Accuracy, macro-F1 and per-class sensitivity (recall) and specificity (one-vs-rest)."""
    from dlbio.evaluate.classification import per_class_metrics

    rates = per_class_metrics(y_true, y_pred, len(classes))
    return {
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "macro_f1": float(rates["f1"].mean()),
        **{f"sensitivity/{c}": float(v) for c, v in zip(classes, rates["recall"])},
        **{f"specificity/{c}": float(v) for c, v in zip(classes, rates["specificity"])},
    }


def run_arms(train, test, classes, generator, fraction, seed, ratio, params, device, key):
    """Both arms of one (fraction, seed): a table with one row per arm (ids, sizes, metrics).

    ``train`` and ``test`` are ``(uint8 tiles, labels)``; ``params`` the classifier settings.
    """
    from dlbio.train.tile_classifier import fit_tile_classifier, predict_tiles

    subsample_seed, classifier_seed, synthetic_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
    pick = stratified_subsample(train[1], fraction, subsample_seed, classes, key)
    real_x, real_y = train[0][pick], train[1][pick]
    counts = synthetic_counts(np.bincount(real_y, minlength=len(classes)), ratio)
    synthetic_x, synthetic_y = draw_synthetic(generator, counts, synthetic_seed, device)
    arms = {
        "real": (real_x, real_y),
        "real+synthetic": (np.concatenate([real_x, synthetic_x]), np.concatenate([real_y, synthetic_y])),
    }
    rows = []
    for arm, (x, y) in arms.items():
        model = fit_tile_classifier(x, y, len(classes), params, device, classifier_seed)
        predicted = predict_tiles(model, test[0], device).argmax(1)
        rows.append(
            {"fraction": fraction, "seed": seed, "arm": arm, "n_real": len(real_y), "n_synthetic": len(y) - len(real_y)}
            | arm_metrics(test[1], predicted, classes)
        )
        log.info(
            "fraction %s, seed %s, %s (%d tiles): accuracy %.3f, macro-F1 %.3f",
            fraction,
            seed,
            arm,
            len(y),
            rows[-1]["accuracy"],
            rows[-1]["macro_f1"],
        )
    return pd.DataFrame(rows)


def experiment_run(store, generator_path, run, fraction, seed, ratio, classifier, device, name):
    """One (fraction, seed) of experiment ``augment_images.<name>`` with GAN run ``run`` (its config entry)."""
    images, labels, classes = training_tiles(store, run["classes"])
    key = f"augment_images.{name}"
    test = held_out_tiles(store, classes)
    generator = class_aware_generator(
        generator_path, run, classes, images.shape[1], images.shape[2:], device, f"{key}.gan_run"
    )
    return run_arms(
        (images, labels), test, classes, generator, fraction, seed, ratio, classifier, device, f"{key}.fractions"
    )


# ---------------------------------------------------------------- summaries


def paired_deltas(runs):
    """Per (fraction, seed) metrics of each arm and their difference ``real+synthetic − real`` (dict of tables)."""
    metrics = [c for c in runs.columns if c not in ID_COLUMNS]
    arms = {arm: runs[runs["arm"] == arm].set_index(["fraction", "seed"])[metrics].sort_index() for arm in ARMS}
    if not arms["real"].index.equals(arms["real+synthetic"].index):
        unpaired = arms["real"].index.symmetric_difference(arms["real+synthetic"].index)
        raise InputError(f"runs without both arms (fraction, seed): {list(unpaired)}")
    return arms | {"delta": arms["real+synthetic"] - arms["real"]}


def summarize(runs):
    """One row per (fraction, metric): mean and std over seeds of each arm and of the paired difference."""
    tables = paired_deltas(runs)
    rows = []
    for fraction, seeds in tables["delta"].groupby(level="fraction"):
        for metric in seeds.columns:
            row = {"fraction": fraction, "metric": metric, "n_seeds": len(seeds)}
            for name, table in tables.items():
                values = table.xs(fraction, level="fraction")[metric]
                row |= {f"{name}_mean": values.mean(), f"{name}_std": values.std(ddof=1)}
            rows.append(row)
    return pd.DataFrame(rows)


def _headline_rows(summary):
    return summary[summary["metric"].isin(HEADLINE)].to_dict("records")


def summary_record(summary, name, gan_run, ratio):
    """Flat dict for ``summary.json``: headline metrics per fraction, and the smallest fraction's macro-F1 change."""
    record = {
        "experiment": name,
        "gan_run": gan_run,
        "synthetic_ratio": ratio,
        "n_seeds": int(summary["n_seeds"].min()),
    }
    for row in _headline_rows(summary):
        prefix = f"fraction_{row['fraction']:g}/{row['metric']}"
        for stat in STATS:
            record[f"{prefix}/{stat}"] = round(float(row[stat]), 4)
        record[f"{prefix}/verdict"] = verdict(row["delta_mean"], row["delta_std"])
    first = summary[summary["metric"] == "macro_f1"].iloc[0]
    return record | {
        "headline_fraction": float(first["fraction"]),
        "headline_metric": "macro_f1",
        "headline_delta_mean": round(float(first["delta_mean"]), 4),
        "headline_delta_std": round(float(first["delta_std"]), 4),
        "headline_verdict": verdict(first["delta_mean"], first["delta_std"]),
    }


VERDICT_WORDS = {
    "improved": "synthetic tiles helped",
    "worse": "synthetic tiles made it worse",
    "no clear effect": "synthetic tiles did not clearly help (difference within one std of zero)",
}


def log_verdicts(summary):
    """Say for every fraction whether synthetic tiles changed the headline metrics, plainly when they did not help."""
    helped = False
    for row in _headline_rows(summary):
        seen = verdict(row["delta_mean"], row["delta_std"])
        helped |= seen == "improved"
        log.info(
            "fraction %g, %s: real %.3f ± %.3f, real+synthetic %.3f ± %.3f, difference %+.3f ± %.3f over %d seeds: %s",
            *(row[k] for k in ("fraction", "metric", *STATS, "n_seeds")),
            VERDICT_WORDS[seen],
        )
    if not helped:
        log.info("Synthetic data did not help: no fraction improved %s by more than one std.", " or ".join(HEADLINE))


def plot_summary(summary, path, title):
    """Accuracy and macro-F1 against the real-data fraction, both arms with ± std error bars and 1/K."""
    metrics = summary["metric"]
    n_classes = metrics[metrics.str.startswith("sensitivity/")].nunique()
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(5 * len(HEADLINE), 4), sharey=True)
    for ax, metric in zip(axes, HEADLINE):
        rows = summary[summary["metric"] == metric]
        for i, arm in enumerate(ARMS):
            shift = 1 + 0.03 * (2 * i - 1)  # side by side on the (log) fraction axis
            ax.errorbar(
                rows["fraction"] * shift, rows[f"{arm}_mean"], yerr=rows[f"{arm}_std"], marker="o", capsize=4, label=arm
            )
        ax.axhline(1 / n_classes, color="grey", ls="--", lw=1, label=f"1/K = {1 / n_classes:.2f} (guessing)")
        if rows["fraction"].max() / rows["fraction"].min() >= 10:
            ax.set_xscale("log")
        ax.set_xlabel("fraction of real training tiles")
        ax.set_title(metric)
    axes[0].set_ylabel("test set (mean ± std over seeds)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
