"""Classification outputs shared by every classifier: metrics, calibrated predictions, figures, comparison."""

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)

from dlbio.evaluate.calibration import ProbabilityCalibration, calibration_metrics
from dlbio.figures import plt
from dlbio.io import write_json

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")


def classification_metrics(y_true, y_pred, classes, majority_class):
    """Flat dict: accuracy, balanced accuracy, macro-F1, majority-class rate and per-class F1."""
    labels = np.arange(len(classes))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "macro_f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "majority_rate": float(np.mean(y_true == majority_class)),
        "n_test": int(len(y_true)),
        **{f"f1/{c}": float(f) for c, f in zip(classes, per_class)},
    }


def per_class_metrics(y_true, y_pred, n_classes):
    """One-vs-rest recall (sensitivity), specificity, precision and F1 of classes 0..n_classes-1 (arrays).

    A ratio with an empty denominator (a class never true or never predicted) is 0.
    """
    labels = np.arange(n_classes)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    confusion = multilabel_confusion_matrix(y_true, y_pred, labels=labels)  # (K, 2, 2): [[tn, fp], [fn, tp]]
    tn, fp = confusion[:, 0, 0], confusion[:, 0, 1]
    specificity = np.divide(tn, tn + fp, out=np.zeros(n_classes), where=(tn + fp) > 0)
    return {"recall": recall, "specificity": specificity, "precision": precision, "f1": f1}


def plot_confusion(y_true, y_pred, classes, path, title):
    """Row-normalised confusion matrix (fraction of each true class)."""
    size = 2 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=np.arange(len(classes)),
        display_labels=classes,
        normalize="true",
        values_format=".2f",
        xticks_rotation="vertical",
        cmap="Blues",
        ax=ax,
    )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_embedding(hidden, true, pred, path, title):
    """First two principal components of a hidden layer, coloured by true and predicted label."""
    xy = PCA(n_components=2, random_state=0).fit_transform(hidden)
    classes = np.unique(np.concatenate([true, pred]))
    colours = dict(zip(classes, plt.cm.tab20(np.linspace(0, 1, max(len(classes), 2)))))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharex=True, sharey=True)
    for ax, labels, name in zip(axes, (true, pred), ("true label", "predicted label")):
        for c in classes:
            sel = labels == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=colours[c], label=c)
        ax.set_title(f"{title}: {name}")
        ax.set_xlabel("PC1 of hidden layer")
    axes[0].set_ylabel("PC2 of hidden layer")
    axes[1].legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_predictions(cells, proba, classes, model, metrics_path, predictions_path, confusion_path):
    """Calibrate ``proba`` (samples × classes, uncalibrated) on the validation samples, score it on the test samples
    and write metrics, predictions and the confusion matrix.

    ``cells`` is the per-sample table (cell or path, label, split: ``train``, ``val``, ``test``, …). The
    temperature (:class:`~dlbio.evaluate.calibration.ProbabilityCalibration`) is fitted on the ``val`` rows; the
    metrics add the test samples' expected calibration error before and after (``ece_uncalibrated``, ``ece``) and
    the ``temperature``; the predictions hold ``predicted``, ``confidence`` (calibrated) and
    ``confidence_uncalibrated``. Returns the predictions table and the calibration.
    """
    y_true = np.searchsorted(classes, cells["label"].to_numpy())
    y_pred = proba.argmax(1)
    split = cells["split"].to_numpy()
    test, val = split == "test", split == "val"
    calibration = ProbabilityCalibration.fit(proba[val], y_true[val])
    calibrated = calibration.probabilities(proba)
    majority = np.bincount(y_true[split == "train"]).argmax()
    metrics = {"model": model, **classification_metrics(y_true[test], y_pred[test], classes, majority)}
    metrics |= calibration_metrics(proba[test], calibrated[test], y_true[test], calibration.temperature)
    write_json(metrics, metrics_path)
    table = cells.assign(
        predicted=classes[y_pred],
        confidence=calibrated.max(1).round(4),
        confidence_uncalibrated=proba.max(1).round(4),
    )
    table.to_csv(predictions_path, sep="\t", index=False)
    plot_confusion(y_true[test], y_pred[test], classes, confusion_path, f"{model}: test cells")
    return table, calibration


def reliability_panels(tables):
    """What :func:`~dlbio.evaluate.calibration.plot_reliability` draws of classifiers' predictions: model → its
    replicates' prediction tables (:func:`evaluate_predictions`), pooled over their test samples: uncalibrated and
    calibrated confidences and whether the predicted class is right."""
    panels = {}
    for model, replicates in tables.items():
        test = pd.concat([t[t["split"] == "test"] for t in replicates])
        right = test["predicted"].astype(str).to_numpy() == test["label"].astype(str).to_numpy()
        panels[model] = (test["confidence_uncalibrated"].to_numpy(), test["confidence"].to_numpy(), right)
    return panels
