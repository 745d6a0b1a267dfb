"""Cells of types the reference never saw: the 'unassigned' rule and its calibration.

A cell is unassigned when a model's confidence (its top class probability) is low, **or** it lies far from the
reference's training cells of the type the model predicts in the embedding, **or** it lacks that type's markers
in its expression:

- *distance ratio*: the mean distance to the type's ``k`` nearest training cells, divided by the median of the same
  distance among the type's training cells themselves (leave-one-out). A dense type thus gets a tight radius and a
  diffuse one a wide radius, in the spirit of scArches' kNN uncertainty.
- *marker lack*: how far the cell falls short of the type's marker genes (its top genes over the other types'
  training cells by a t statistic of log expression): the mean over them of (type mean − cell) / type std. An
  embedding keeps only the directions the reference varies in, so a cell of an unseen type can land inside a known
  type's cloud; its expression still lacks that type's markers (measured in docs/new-donor.md).

The thresholds are set on the reference's validation cells (never trained on) for a stated false-unassigned
rate: each rule flags the same quantile ``q`` of the validation cells (the lowest confidences, the largest
distance ratios and marker lacks), and ``q`` is the largest for which they together flag at most that rate.
"""

import numpy as np
import scipy.sparse as sp
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


def _moments(count, total, total_sq):
    """Means and (population) variances from counts, sums and sums of squares (a count of 0 counts as 1)."""
    mean = total / np.maximum(count, 1)
    return mean, np.maximum(total_sq / np.maximum(count, 1) - mean**2, 0)


def fit_markers(x, y, n_classes, n_markers):
    """Each class's ``n_markers`` marker genes among the columns of ``x`` (training cells × genes, log-normalised,
    sparse or dense; ``y``: class indices): the largest t statistics of the class's mean over the other classes'
    cells, with the class's mean and standard deviation of each. Returns arrays (classes × markers): ``genes``
    (column indices), ``mean``, ``std``; a class without two training cells gets no markers (all -1)."""
    x = sp.csr_matrix(x, dtype=np.float64)
    one_hot = sp.csr_matrix((np.ones(len(y)), (y, np.arange(len(y)))), shape=(n_classes, len(y)))
    sums, sums_sq = (one_hot @ x).toarray(), (one_hot @ x.multiply(x)).toarray()
    n = np.asarray(one_hot.sum(1))
    mean, var = _moments(n, sums, sums_sq)
    rest_mean, rest_var = _moments(len(y) - n, sums.sum(0) - sums, sums_sq.sum(0) - sums_sq)
    t = (mean - rest_mean) / np.sqrt(var / np.maximum(n, 1) + rest_var / np.maximum(len(y) - n, 1) + 1e-12)
    genes = np.argsort(-t, axis=1)[:, :n_markers]
    rows = np.arange(n_classes)[:, None]
    std = np.sqrt(var[rows, genes] * n / np.maximum(n - 1, 1))
    genes[n.ravel() < 2] = -1
    return {"genes": genes, "mean": mean[rows, genes], "std": np.maximum(std, 1e-6)}


def marker_lack(x, predicted, markers, measured=None):
    """Each row of ``x`` (cells × genes as :func:`fit_markers` read them): its mean over the markers of its
    ``predicted`` class (index) of (class mean − value) / class std; 0 for a class without markers. ``measured``
    (a boolean per gene; default all): genes the cells have; a marker they lack is left out, not read as zero."""
    measured = np.ones(x.shape[1], bool) if measured is None else np.asarray(measured, bool)
    lack = np.zeros(x.shape[0])
    for label in np.unique(predicted):
        genes = markers["genes"][label]
        keep = (genes >= 0) & measured[np.maximum(genes, 0)]
        if not keep.any():
            continue
        rows = np.flatnonzero(predicted == label)
        values = x[rows][:, genes[keep]]
        values = values.toarray() if sp.issparse(values) else np.asarray(values)
        lack[rows] = ((markers["mean"][label][keep] - values) / markers["std"][label][keep]).mean(1)
    return lack


def reference_markers(source, reference, cells, n_markers, key):
    """The marker part of the unassigned rule, fitted once per dataset: each class's markers
    (:func:`fit_markers`) on the training cells of ``cells`` (the prepared per-cell table)
    re-read from ``source`` (config key ``key``) and normalised as the reference was, and ``val_lack``: every
    validation cell's marker lack against every class (validation cells in table order × classes)."""
    from dlbio.data.cells import read_cells  # local: the rule's other functions need neither torch nor scanpy
    from dlbio.train.cell_embedding import normalised_features

    adata = read_cells(source, key)[cells["cell"].to_numpy()]
    x = sp.csr_matrix(normalised_features(adata, reference, str(reference["input"])))
    index = {label: i for i, label in enumerate(reference["classes"])}
    split, n_classes = cells["split"].to_numpy(), len(index)
    train, val = x[split == "train"], x[split == "val"]
    markers = fit_markers(train, cells["label"][split == "train"].map(index).to_numpy(), n_classes, n_markers)
    lack = [marker_lack(val, np.full(val.shape[0], label), markers) for label in range(n_classes)]
    return markers | {"val_lack": np.stack(lack, 1).astype(np.float32)}


def calibrate(scores, rate):
    """Thresholds of the validation cells' novelty ``scores`` (a list of arrays, larger = more novel: the negated
    confidence, the distance ratio, the marker lack) that together flag at most ``rate`` of them: all at the same
    quantile level, the largest that keeps the union within ``rate``. A rate of 0 turns the rule off (infinite
    thresholds: nothing is flagged, however far a query cell lies)."""
    best = [np.inf] * len(scores)
    for q in np.linspace(0, rate, GRID + 1)[1:] if rate > 0 else []:
        thresholds = [float(np.quantile(score, 1 - q)) for score in scores]
        if flag(scores, thresholds).mean() > rate:
            break
        best = thresholds
    return best


def flag(scores, thresholds):
    """Cells the rule leaves unassigned: any score above its threshold."""
    return np.any([score > threshold for score, threshold in zip(scores, thresholds)], axis=0)
