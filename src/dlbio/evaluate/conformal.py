"""Split conformal intervals for regression, calibrated on held-out (validation) molecules.

A prediction is the mean over a model's replicates; with two or more replicates on one split its *spread* is
their standard deviation. A calibration value's score is ``|y − mean| / (std + floor)`` (normalised; ``floor``:
the median of the calibration molecules' std, so that a molecule on which the replicates happen to agree does not
get a zero-width interval) or ``|y − mean|`` without a spread. ``q`` is the ``⌈(n + 1)·level⌉``-th smallest of
the ``n`` scores, and every prediction's interval is ``mean ± q·(std + floor)`` (or ``mean ± q``): wider where the
replicates disagree. When calibration and new molecules are exchangeable it covers the truth with probability at
least ``level`` (Lei et al. 2018, split conformal; Papadopoulos et al. 2011, normalised scores).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from dlbio.errors import InputError


def check_level(level, key):
    """Fail naming ``key`` unless ``level`` lies strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise InputError(
            f"config key '{key}' = {level!r}: a conformal level must lie strictly between 0 and 1 (0.9: 90% coverage)"
        )


def conformal_rank(n, level):
    """The rank (1-based) of the conformal quantile among ``n`` sorted scores (may exceed ``n``)."""
    return math.ceil(round((n + 1) * level, 9))


def min_calibration_size(level):
    """The fewest calibration values that give a finite ``level`` interval: the least ``n`` with
    ``⌈(n + 1)·level⌉ ≤ n`` (9 at 0.9, 19 at 0.95)."""
    n = max(1, math.floor(level / (1 - level)) - 1)
    while conformal_rank(n, level) > n:
        n += 1
    return n


def require_calibration_size(n, level, what, remedy):
    """Fail naming ``what``, ``n`` and ``remedy`` (what to raise or lower) unless ``n`` labelled validation molecules
    suffice for ``level`` intervals (:func:`min_calibration_size`)."""
    need = min_calibration_size(level)
    if n < need:
        raise InputError(
            f"{what}: {level:.0%} intervals need at least {need} validation molecules with a measured value, "
            f"there are {n}; {remedy}"
        )


@dataclass(frozen=True)
class Calibration:
    """A fitted interval: ``level``, the score quantile ``q``, the spread ``floor`` (None: scores not normalised) and
    ``n`` calibration values."""

    level: float
    q: float
    floor: float | None
    n: int

    def half_width(self, spread=None):
        """Half the interval width of predictions with replicate ``spread`` (their std; ignored unless normalised)."""
        if self.floor is None:
            return self.q if spread is None else np.full(len(spread), self.q)
        return self.q * (np.asarray(spread, float) + self.floor)


def calibrate(y, mean, spread, level, what, remedy):
    """A :class:`Calibration` from calibration values ``y`` (NaN: unlabelled, left out), their predictions ``mean``
    and, for normalised scores, the replicates' ``spread`` (None: absolute residuals).

    Too few labelled values for ``level`` fail naming ``what`` (the model and target), how many there are and
    ``remedy`` (what to raise or lower).
    """
    y, mean = np.asarray(y, float), np.asarray(mean, float)
    rows = ~np.isnan(y)
    n = int(rows.sum())
    require_calibration_size(n, level, what, remedy)
    residuals = np.abs(y[rows] - mean[rows])
    floor = None
    if spread is not None:
        spread = np.asarray(spread, float)[rows]
        floor = float(np.median(spread))
        if floor <= 0:
            floor = float(np.finfo(np.float32).eps * max(np.abs(mean[rows]).max(), 1.0))
        residuals = residuals / (spread + floor)
    q = float(np.sort(residuals)[conformal_rank(n, level) - 1])
    return Calibration(float(level), q, floor, n)


def interval_scores(y, mean, spread, calibration):
    """Test-set scores of intervals: ``coverage`` (share of labelled values inside), ``mean_width`` and, with a
    spread, ``spearman``: the rank correlation of |error| with the spread (None without one)."""
    y, mean = np.asarray(y, float), np.asarray(mean, float)
    rows = ~np.isnan(y)
    half = calibration.half_width(None if spread is None else np.asarray(spread, float)[rows])
    error = np.abs(y[rows] - mean[rows])
    spearman = None
    if spread is not None and rows.sum() > 2:
        spearman = float(spearmanr(error, np.asarray(spread, float)[rows]).statistic)
    return {
        "n_test": int(rows.sum()),
        "coverage": float(np.mean(error <= half)) if rows.any() else None,
        "mean_width": float(np.mean(2 * np.broadcast_to(half, error.shape))) if rows.any() else None,
        "spearman": spearman,
    }
