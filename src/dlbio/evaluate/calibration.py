"""Calibrated class probabilities: temperature scaling, expected calibration error, reliability diagrams and
split-conformal prediction sets, all fitted on a model's validation outputs (no retraining).

Temperature scaling (Guo et al. 2017) divides a model's log-probabilities by one scalar ``T`` fitted by
minimising the negative log-likelihood of the validation samples: ``softmax(log p / T)``, which for a net's
softmax output is exactly ``softmax(logits / T)``. One parameter is stable on the small validation sets of a lab
(tens to hundreds of samples) and it keeps every sample's class ranking, so accuracy, the confusion matrix and
ROC-AUC are unchanged. A binary probability ``p`` is the two-class case ``(1 - p, p)``.

Prediction sets are split-conformal with the LAC score (least ambiguous set-valued classifier, Sadinle et al.
2019): a validation sample's score is one minus the calibrated probability of its true class; at level ``1 - α``
the threshold ``q`` is the ``⌈(n + 1)(1 - α)⌉``-th smallest of the ``n`` scores, and a sample's set holds every
class whose probability is at least ``1 - q``, and its top class in any case. LAC's sets are the smallest that cover
the true class with probability at least the level on data like the validation samples, but a classifier more
accurate than the level would get empty sets for its least sure samples (the misses the level allows); with the top
class added a set is never empty and covers at least as often. Fewer than ``1 / α - 1`` validation samples give
every class.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from dlbio.evaluate.conformal import conformal_rank
from dlbio.figures import plt

N_BINS = 15  # equal-width confidence bins of the ECE and the reliability diagram
EPS = 1e-12  # probabilities are clipped here before the logarithm (a forest's 0 would give -inf)
T_RANGE = (1e-2, 1e2)  # fitted temperatures are clipped to this range
SET_SEPARATOR = "|"  # between the classes of a prediction set
ECE_METRICS = ("ece_uncalibrated", "ece")  # compared between models beside the headline metrics (lower is better)


def _log_proba(proba):
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), EPS, 1.0))


def temper(proba, temperature):
    """Probabilities ``(N, K)`` scaled by ``temperature``: ``softmax(log p / T)`` (the input for ``T = 1``)."""
    return softmax(_log_proba(proba) / temperature, axis=1)


def fit_temperature(proba, labels):
    """The temperature minimising the negative log-likelihood of ``labels`` (ints) under :func:`temper` of
    ``proba`` ``(N, K)``: bounded Brent search (SciPy) on ``log T`` within ``T_RANGE``; 1 without samples."""
    if len(labels) == 0:
        return 1.0
    log_proba, rows = _log_proba(proba), (np.arange(len(labels)), np.asarray(labels, dtype=np.int64))

    def nll(log_t):
        return -log_softmax(log_proba / np.exp(log_t), axis=1)[rows].mean()

    return float(np.exp(minimize_scalar(nll, bounds=np.log(T_RANGE), method="bounded").x))


def two_class(p):
    """Binary probabilities of class 1 ``(N,)`` as two-class probabilities ``(N, 2)``."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([1 - p, p], 1)


@dataclass(frozen=True)
class ProbabilityCalibration:
    """A model's calibration, fitted on its validation outputs: the ``temperature`` and the validation samples'
    LAC ``scores`` (one minus the calibrated probability of the true class)."""

    temperature: float
    scores: np.ndarray

    @classmethod
    def fit(cls, proba, labels):
        """Fit on validation probabilities ``(N, K)`` (uncalibrated) and their ``labels`` (ints)."""
        labels = np.asarray(labels, dtype=np.int64)
        temperature = fit_temperature(proba, labels)
        calibrated = temper(proba, temperature)
        return cls(temperature, 1 - calibrated[np.arange(len(labels)), labels])

    def probabilities(self, proba):
        """Calibrated probabilities of uncalibrated ``proba`` ``(N, K)``."""
        return temper(proba, self.temperature)

    def threshold(self, level):
        """The LAC score threshold ``q`` at ``level``: a class is in a set when its probability is ≥ ``1 - q``."""
        n, rank = len(self.scores), conformal_rank(len(self.scores), level)
        return 1.0 if rank > n else float(np.sort(self.scores)[rank - 1])

    def sets(self, calibrated, level):
        """Boolean ``(N, K)``: the classes in each sample's prediction set at ``level`` (``calibrated``:
        probabilities of :meth:`probabilities`): those at or above the LAC threshold, and the top class."""
        calibrated = np.asarray(calibrated)
        members = calibrated >= 1 - self.threshold(level) - 1e-12
        members[np.arange(len(calibrated)), calibrated.argmax(1)] = True
        return members


def fit_tasks(p, y, rows):
    """One :class:`ProbabilityCalibration` per task of binary probabilities of class 1 ``p`` ``(M, T)`` with 0/1
    labels ``y`` (NaN: none), fitted on the labelled molecules among ``rows`` (boolean ``(M,)``)."""
    calibrations = []
    for t in range(p.shape[1]):
        fit = rows & ~np.isnan(y[:, t])
        calibrations.append(ProbabilityCalibration.fit(two_class(p[fit, t]), y[fit, t].astype(np.int64)))
    return calibrations


def calibrate_tasks(calibrations, p):
    """Calibrated probabilities of class 1 ``(M, T)`` of ``p`` ``(M, T)``, one calibration per task."""
    return np.stack([c.probabilities(two_class(p[:, t]))[:, 1] for t, c in enumerate(calibrations)], 1)


def set_labels(members, classes):
    """Prediction sets (boolean ``(N, K)``) as text: the classes in each set joined by ``SET_SEPARATOR``."""
    classes = np.asarray([str(c) for c in classes], dtype=object)
    return np.array([SET_SEPARATOR.join(classes[row]) for row in np.asarray(members, dtype=bool)], dtype=object)


def reliability_bins(p, event):
    """``p`` (predicted probabilities of an event) and ``event`` (0/1) in ``N_BINS`` equal-width bins, as
    torchmetrics bins them (a probability on an edge goes up; exactly 1 alone in the last bin): each non-empty
    bin's share of the samples, mean ``p`` and observed frequency of the event."""
    p, event = np.asarray(p, dtype=np.float64), np.asarray(event, dtype=np.float64)
    bins = np.searchsorted(np.linspace(0, 1, N_BINS + 1), p, side="right") - 1
    counts = np.bincount(bins, minlength=N_BINS + 1)
    kept = counts > 0
    mean = (np.bincount(bins, w, minlength=N_BINS + 1)[kept] / counts[kept] for w in (p, event))
    return (counts[kept] / len(p), *mean)


def binary_error(p, event):
    """Expected calibration error (L1) of probabilities ``p`` of an event (class 1) against whether it happened
    (0/1): ``Σ share · |frequency − mean p|`` over :func:`reliability_bins`; NaN without samples."""
    if len(p) == 0:
        return float("nan")
    share, predicted, observed = reliability_bins(p, event)
    return float(np.sum(share * np.abs(observed - predicted)))


def calibration_error(proba, labels):
    """Expected calibration error (top-label) of ``proba`` ``(N, K)``; NaN without samples."""
    return binary_error(*top_label(proba, labels)) if len(labels) else float("nan")


def calibration_metrics(raw, calibrated, labels, temperature):
    """``ece_uncalibrated``, ``ece`` (of the calibrated probabilities) and ``temperature``: flat metrics of the
    multi-class probabilities ``raw`` and ``calibrated`` ``(N, K)`` of the test samples with ``labels``."""
    return {
        "ece_uncalibrated": calibration_error(raw, labels),
        "ece": calibration_error(calibrated, labels),
        "temperature": float(temperature),
    }


def task_metrics(raw, calibrated, y, targets, calibrations):
    """Flat metrics of binary tasks: per target ``ece_uncalibrated/<t>``, ``ece/<t>`` (of the labelled samples of
    ``raw`` and ``calibrated`` probabilities of class 1 ``(M, T)`` against ``y``) and ``temperature/<t>``; the
    means over targets as ``ece_uncalibrated`` and ``ece``."""
    metrics = {}
    for t, (target, calibration) in enumerate(zip(targets, calibrations)):
        rows = ~np.isnan(y[:, t])
        metrics[f"ece_uncalibrated/{target}"] = binary_error(raw[rows, t], y[rows, t])
        metrics[f"ece/{target}"] = binary_error(calibrated[rows, t], y[rows, t])
        metrics[f"temperature/{target}"] = float(calibration.temperature)
    for name in ("ece_uncalibrated", "ece"):
        values = [metrics[f"{name}/{target}"] for target in targets]
        metrics[name] = float(np.nanmean(values)) if not np.isnan(values).all() else None
    return metrics


def top_label(proba, labels):
    """What the reliability diagram of multi-class ``proba`` plots: each sample's confidence (its top class's
    probability) and whether that class is right."""
    proba = np.asarray(proba)
    return proba.max(1), proba.argmax(1) == np.asarray(labels)


def plot_reliability(panels, path, title):
    """Reliability diagrams, one panel per model: the observed frequency of the event against the predicted
    probability in :func:`reliability_bins`, before and after calibration.

    ``panels``: model name → ``(uncalibrated, calibrated, event)``, the predicted probabilities of an event (a
    binary label being 1, or the top class being right: :func:`top_label`) and whether it happened.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 4), squeeze=False, sharey=True)
    for ax, (name, (raw, calibrated, event)) in zip(axes[0], panels.items()):
        event = np.asarray(event, dtype=int)
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
        for label, p, style in (("uncalibrated", raw, "o-"), ("calibrated", calibrated, "s-")):
            ece = binary_error(p, event)
            if len(event):
                _, predicted, observed = reliability_bins(np.clip(p, 0, 1), event)
                ax.plot(predicted, observed, style, ms=4, label=f"{label} (ECE {ece:.3f})")
        ax.set(title=f"{name} (n = {len(event)})", xlabel="predicted probability", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="upper left")
    axes[0, 0].set_ylabel("observed frequency")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
