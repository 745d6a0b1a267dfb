"""Cells of types the reference never saw: the 'unassigned' rule and its calibration.

A cell is unassigned when a model's confidence (its top class probability) is low **or** when it lies far from the
reference's training cells of the type the model predicts. "Far" is relative to that type's own density: the mean
distance to the type's ``k`` nearest training cells, divided by the median of the same distance among the type's
training cells themselves (leave-one-out). A dense type thus gets a tight radius and a diffuse one a wide radius,
in the spirit of scArches' kNN uncertainty, and a cell of an unseen type that the classifier confidently forces
into its nearest known type is still caught when it sits outside that type's cloud.

Both thresholds are set on the reference's validation cells (never trained on) for a stated false-unassigned
rate: each rule flags the same quantile ``q`` of the validation cells (the lowest confidences, the largest
distance ratios), and ``q`` is the largest for which the two together flag at most that rate.
"""

import numpy as np
from sklearn.neighbors import NearestNeighbors

GRID = 200  # quantile levels tried when calibrating


class TypeDistance:
    """Distance ratios of cells to the reference's training cells of a given type (see the module docstring)."""

    def __init__(self, x_train, y_train, k, metric="euclidean"):
        self.indexes, self.scales = {}, {}
        for label in np.unique(y_train):
            members = x_train[y_train == label]
            n = min(k, len(members) - 1)
            if n < 1:
                continue
            index = NearestNeighbors(n_neighbors=n, metric=metric).fit(members)
            own, _ = index.kneighbors()  # leave-one-out: each training cell against the others
            self.indexes[label], self.scales[label] = index, max(float(np.median(own.mean(1))), 1e-12)

    def ratio(self, x, predicted):
        """Each row of ``x``: its mean distance to the ``k`` nearest training cells of its ``predicted`` type over
        that type's median (``inf`` for a type without two training cells)."""
        ratio = np.full(len(x), np.inf)
        for label in np.unique(predicted):
            rows = np.flatnonzero(predicted == label)
            if label in self.indexes:
                distance, _ = self.indexes[label].kneighbors(x[rows])
                ratio[rows] = distance.mean(1) / self.scales[label]
        return ratio


def calibrate(confidence, ratio, rate):
    """Confidence and distance-ratio thresholds that together flag at most ``rate`` of the validation cells
    (``confidence``, ``ratio``): both at the same quantile level, the largest that keeps the union within ``rate``.
    A rate of 0 turns the rule off (no threshold: nothing is flagged, however far a query cell lies)."""
    best = (-np.inf, np.inf)
    for q in np.linspace(0, rate, GRID + 1)[1:] if rate > 0 else []:
        low, high = np.quantile(confidence, q), np.quantile(ratio, 1 - q)
        if np.mean((confidence < low) | (ratio > high)) > rate:
            break
        best = (float(low), float(high))
    return best


def flag(confidence, ratio, thresholds):
    """Cells the rule leaves unassigned: confidence below, or distance ratio above, its threshold."""
    low, high = thresholds
    return (confidence < low) | (ratio > high)
