"""Molecule property metrics (RMSE/MAE/R² or ROC-AUC/PR-AUC per task and mean; calibration of classifiers),
predictions, figures."""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    RocCurveDisplay,
    average_precision_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from dlbio.evaluate.calibration import calibrate_tasks, fit_tasks, task_metrics
from dlbio.evaluate.comparison import read_replicates
from dlbio.figures import plt
from dlbio.io import write_json

HEADLINE = {"regression": ("rmse", "mae", "r2"), "classification": ("roc_auc", "pr_auc")}
SCORES = {
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "r2": r2_score,
    "roc_auc": roc_auc_score,
    "pr_auc": average_precision_score,
}


def property_metrics(y_true, y_pred, targets, task, train_mean):
    """Flat dict: each headline metric per task (``rmse/<target>``) and its mean over tasks.

    Regression adds ``mean_predictor_rmse``: the RMSE of always predicting the training mean.
    A classification task whose test labels hold one class only gets no AUC (left out).
    """
    metrics, names = {}, HEADLINE[task]
    for t, target in enumerate(targets):
        rows = ~np.isnan(y_true[:, t])
        if task == "classification" and len(np.unique(y_true[rows, t])) < 2:
            continue
        for name in names:
            metrics[f"{name}/{target}"] = float(SCORES[name](y_true[rows, t], y_pred[rows, t]))
    for name in names:
        values = [v for k, v in metrics.items() if k.startswith(f"{name}/")]
        metrics[name] = float(np.mean(values)) if values else None
    if task == "regression":
        errors = [
            root_mean_squared_error(y_true[~np.isnan(y_true[:, t]), t], np.full((~np.isnan(y_true[:, t])).sum(), m))
            for t, m in enumerate(train_mean)
        ]
        metrics["mean_predictor_rmse"] = float(np.mean(errors))
    return metrics


def plot_performance(y_true, y_pred, targets, task, path, title):
    """Parity plot per task (regression) or ROC curves per task (classification), test molecules."""
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 4.2), squeeze=False)
    for t, (ax, target) in enumerate(zip(axes[0], targets)):
        rows = ~np.isnan(y_true[:, t])
        if task == "regression":
            ax.scatter(y_true[rows, t], y_pred[rows, t], s=8, alpha=0.6)
            lo, hi = np.nanmin([y_true[rows, t], y_pred[rows, t]]), np.nanmax([y_true[rows, t], y_pred[rows, t]])
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            ax.set_xlabel(f"measured {target}")
            ax.set_ylabel(f"predicted {target}")
        elif len(np.unique(y_true[rows, t])) == 2:
            RocCurveDisplay.from_predictions(y_true[rows, t], y_pred[rows, t], ax=ax, name=target)
        ax.set_title(f"{title}: {target}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_property_predictions(table, y, pred, targets, task, model, metrics_path, predictions_path, figure_path):
    """Score ``pred`` (M, T) against ``y`` on the test molecules; write metrics, predictions and figure.

    ``table`` is the molecule table with ``id``, ``smiles`` and ``split`` columns. Classification probabilities are
    calibrated first, one temperature per target fitted on the labelled validation molecules
    (:func:`~dlbio.evaluate.calibration.fit_tasks`; ROC-AUC and PR-AUC are unchanged): the metrics add each
    target's expected calibration error before and after, and its temperature
    (:func:`~dlbio.evaluate.calibration.task_metrics`); ``predicted_<target>`` is the calibrated probability and
    ``predicted_<target>_uncalibrated`` the model's own. Returns the metrics and the calibrations (one per target;
    None for regression).
    """
    split = table["split"].to_numpy()
    test, train = split == "test", split == "train"
    train_mean = np.nanmean(y[train], axis=0)
    raw, calibrations = pred, None
    columns = {}
    if task == "classification":
        calibrations = fit_tasks(raw, y, split == "val")
        pred = calibrate_tasks(calibrations, raw)
        columns = {f"predicted_{t}_uncalibrated": raw[:, i].round(5) for i, t in enumerate(targets)}
    metrics = {"model": model, "n_test": int(test.sum()), **property_metrics(y[test], pred[test], targets, task, train_mean)}
    if calibrations is not None:
        metrics |= task_metrics(raw[test], pred[test], y[test], targets, calibrations)
    write_json(metrics, metrics_path)
    columns = {f"predicted_{t}": pred[:, i].round(5) for i, t in enumerate(targets)} | columns
    table[["id", "smiles", "split", *targets]].assign(**columns).to_csv(predictions_path, sep="\t", index=False)
    plot_performance(y[test], pred[test], targets, task, figure_path, model)
    return metrics, calibrations


def reliability_panels(tables, targets):
    """What :func:`~dlbio.evaluate.calibration.plot_reliability` draws of binary classifiers: model → its
    replicates' ``predictions.tsv`` tables, pooled over their labelled test molecules and ``targets``: uncalibrated
    and calibrated probabilities of class 1 and the labels."""
    panels = {}
    for model, replicates in tables.items():
        test = pd.concat([t[t["split"] == "test"] for t in replicates])
        raw, calibrated, labels = [], [], []
        for target in targets:
            rows = test[target].notna()
            raw.append(test.loc[rows, f"predicted_{target}_uncalibrated"])
            calibrated.append(test.loc[rows, f"predicted_{target}"])
            labels.append(test.loc[rows, target])
        panels[model] = tuple(pd.concat(parts).to_numpy(float) for parts in (raw, calibrated, labels))
    return panels


def ensemble_metrics(prediction_paths, targets, task):
    """Replicates as one ensemble: headline metrics of the mean prediction on the test molecules, and the mean over
    test molecules of the replicates' standard deviation (``uncertainty``). The replicates must share molecules
    and split."""
    tables, stacked = read_replicates(prediction_paths, targets)
    first = tables[0]
    y = first[list(targets)].to_numpy(float)
    test, train = (first["split"] == "test").to_numpy(), (first["split"] == "train").to_numpy()
    metrics = property_metrics(y[test], stacked.mean(0)[test], targets, task, np.nanmean(y[train], axis=0))
    return {m: metrics[m] for m in HEADLINE[task]} | {"uncertainty": float(stacked.std(0)[test].mean())}


def ensemble_rows(predictions, baseline, targets, task):
    """Comparison rows (``kind`` ensemble) of every model's replicate ensemble; ``predictions``: model → the
    replicates' prediction files. Differences are to the baseline's ensemble; one ensemble has no spread."""
    scores = {model: ensemble_metrics(paths, targets, task) for model, paths in predictions.items()}
    rows = []
    for model, score in scores.items():
        row = {"model": f"{model} ensemble", "kind": "ensemble", "n_replicates": len(predictions[model])}
        for metric in HEADLINE[task]:
            row |= {f"{metric}_mean": score[metric], f"{metric}_vs_{baseline}_mean": score[metric] - scores[baseline][metric]}
        rows.append(row | {"uncertainty": score["uncertainty"]})
    return pd.DataFrame(rows).round(4)
