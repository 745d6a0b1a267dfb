"""Conformal intervals of every regression model of a molecules entry, calibrated on the validation molecules of its
replicates' ``predictions.tsv`` (:mod:`dlbio.evaluate.conformal`) and scored on the test molecules.

With the replicates on one split a model's prediction is their mean and the scores are normalised by their
standard deviation (two or more replicates); with ``resplit`` every replicate's own validation and test molecules
are pooled, each with that replicate's prediction, and the scores are absolute residuals.

The calibration table (``intervals.tsv``) has one row per model and target: :data:`COLUMNS`; the predicting job
reads it back with :func:`read_calibration`.
"""

import numpy as np
import pandas as pd

from dlbio.errors import InputError
from dlbio.evaluate.comparison import read_replicates
from dlbio.evaluate.conformal import (
    Calibration,
    calibrate,
    check_level,
    interval_scores,
    min_calibration_size,
    require_calibration_size,
)

COLUMNS = [
    "model",
    "target",
    "level",
    "n_replicates",
    "normalised",
    "n_val",
    "q",
    "floor",
    "n_test",
    "coverage",
    "mean_width",
    "spearman",
]


def pooled_predictions(prediction_paths, targets, shared):
    """``(y, split, mean, spread)`` of a model's replicates, row by row: on one split (``shared``) each molecule
    once with the replicates' mean and std (None with one replicate); else every replicate's rows stacked with
    its own split and prediction, and no spread."""
    tables, stacked = read_replicates(prediction_paths, targets, same_split=shared)
    y = tables[0][list(targets)].to_numpy(float)
    if shared:
        spread = stacked.std(0, ddof=1) if len(stacked) > 1 else None
        return y, tables[0]["split"].to_numpy(), stacked.mean(0), spread
    split = np.concatenate([t["split"].to_numpy() for t in tables])
    return np.tile(y, (len(tables), 1)), split, stacked.reshape(-1, len(targets)), None


def _remedy(entry_key):
    return (
        f"give more molecules the split 'val' (config key '{entry_key}.split.val') "
        f"or lower '{entry_key}.interval_level'"
    )


def check_validation_size(table_path, targets, level, entry_key):
    """Before training: fail unless the prepared split (``molecules.tsv``) has enough labelled validation molecules
    of every target for ``level`` intervals. Returns a table of ``target``, ``n_val``, ``needed``."""
    check_level(level, f"{entry_key}.interval_level")
    table = pd.read_csv(table_path, sep="\t", dtype={"split": str})
    val = table[table["split"] == "val"]
    counts = {t: int(val[t].notna().sum()) for t in targets}
    for target, n in counts.items():
        require_calibration_size(n, level, f"{entry_key}: target '{target}'", _remedy(entry_key))
    return pd.DataFrame({"target": list(counts), "n_val": list(counts.values()), "needed": min_calibration_size(level)})


def calibrate_models(predictions, targets, level, shared, entry_key):
    """The calibration table (:data:`COLUMNS`) of ``predictions`` (model → its replicates' prediction files).

    ``entry_key`` (``molecules.<name>``) names the entry in errors (too few validation molecules for ``level``).
    """
    check_level(level, f"{entry_key}.interval_level")
    remedy = _remedy(entry_key)
    rows = []
    for model, paths in predictions.items():
        y, split, mean, spread = pooled_predictions(paths, targets, shared)
        val, test = split == "val", split == "test"
        for t, target in enumerate(targets):
            s = None if spread is None else spread[:, t]
            what = f"{entry_key}: model '{model}', target '{target}'"
            fitted = calibrate(y[val, t], mean[val, t], None if s is None else s[val], level, what, remedy)
            scores = interval_scores(y[test, t], mean[test, t], None if s is None else s[test], fitted)
            rows.append(
                {"model": model, "target": target, "level": level, "n_replicates": len(paths)}
                | {"normalised": fitted.floor is not None, "n_val": fitted.n, "q": fitted.q, "floor": fitted.floor}
                | scores
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def flat_metrics(table):
    """``metrics.json`` of a calibration table: ``level``, and per model ``<model>/coverage``, ``<model>/mean_width``
    (means over targets) and per target ``<model>/coverage/<target>``, ``<model>/mean_width/<target>`` and
    ``<model>/spearman/<target>``.
    """
    metrics = {"level": float(table["level"].iloc[0])}
    for model, rows in table.groupby("model", sort=False):
        metrics |= {
            f"{model}/coverage": float(rows["coverage"].mean()),
            f"{model}/mean_width": float(rows["mean_width"].mean()),
        }
        for row in rows.itertuples():
            spearman = None if pd.isna(row.spearman) else float(row.spearman)
            metrics |= {
                f"{model}/coverage/{row.target}": row.coverage,
                f"{model}/mean_width/{row.target}": row.mean_width,
            }
            metrics[f"{model}/spearman/{row.target}"] = spearman
    return metrics


def comparison_columns(table):
    """Per model (index): ``interval_level``, ``interval_coverage`` and ``interval_width`` (test coverage and mean
    width, means over targets) for its ``comparison.tsv`` row."""
    grouped = table.groupby("model", sort=False)
    return pd.DataFrame(
        {
            "interval_level": grouped["level"].first(),
            "interval_coverage": grouped["coverage"].mean(),
            "interval_width": grouped["mean_width"].mean(),
        }
    ).round(4)


def read_calibration(path, replicates):
    """``{(model, target): Calibration}`` of an ``intervals.tsv``; ``replicates``: model → number of replicates
    predicting, which must be those calibrated (else the file is stale: an error naming it)."""
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"'{path}' is not an interval calibration table (it lacks {missing}); re-run molecules_calibrate"
        )
    calibrations = {}
    for row in table.itertuples():
        if row.model in replicates and replicates[row.model] != row.n_replicates:
            raise InputError(
                f"'{path}' calibrates {row.n_replicates} replicates of '{row.model}' but {replicates[row.model]} "
                "predict; re-run molecules_calibrate"
            )
        floor = float(row.floor) if row.normalised else None
        calibrations[(row.model, row.target)] = Calibration(float(row.level), float(row.q), floor, int(row.n_val))
    return calibrations
