"""Fingerprint baseline: Morgan fingerprints (RDKit) + random forest (scikit-learn), one forest per task.

Forests are kept as plain arrays (:func:`save_forests`, ``.npz`` read with ``allow_pickle=False``):
every tree's node table (one array per field of scikit-learn's node record) and leaf values, all
trees of all tasks concatenated, rebuilt into scikit-learn trees that predict exactly as before.
"""

import json

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.tree._tree import NODE_DTYPE, Tree

from dlbio.errors import InputError
from dlbio.io import atomic_write

FOREST_FORMAT, FOREST_FORMAT_VERSION = "dlbio.fingerprint_forest", 1


def morgan_fingerprints(smiles, radius, n_bits):
    """(M, n_bits) uint8 bit vectors of Morgan fingerprints."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return np.stack([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles]).astype(np.uint8)


def fit_forests(fingerprints, y, train, task, n_estimators, seed, n_jobs=1):
    """One forest per task (column of ``y``), fitted on the labelled training molecules."""
    forest = RandomForestRegressor if task == "regression" else RandomForestClassifier
    forests = []
    for t in range(y.shape[1]):
        rows = train & ~np.isnan(y[:, t])
        model = forest(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
        forests.append(model.fit(fingerprints[rows], y[rows, t]))
    return forests


def predict_forests(forests, fingerprints):
    """(M, T) values (regressors) or probabilities of class 1 (classifiers; 0 where class 1 was never seen)."""
    predictions = []
    for forest in forests:
        if isinstance(forest, RandomForestRegressor):
            predictions.append(forest.predict(fingerprints))
        elif 1.0 in forest.classes_:
            predictions.append(forest.predict_proba(fingerprints)[:, list(forest.classes_).index(1.0)])
        else:
            predictions.append(np.zeros(len(fingerprints)))
    return np.stack(predictions, 1)


def fit_predict_forest(fingerprints, y, train, task, n_estimators, seed, n_jobs=1):
    """Fit one forest per task on the labelled training molecules; predict every molecule (:func:`predict_forests`)."""
    return predict_forests(fit_forests(fingerprints, y, train, task, n_estimators, seed, n_jobs), fingerprints)


def save_forests(forests, path, metadata):
    """Write forests of :func:`fit_forests` and a JSON-able ``metadata`` dict as plain arrays, atomically.

    Arrays: ``format``, ``format_version``, ``metadata`` (JSON text), ``task`` (regression or
    classification), ``n_features``, per tree ``tree_task`` and ``max_depth``, ``node_ptr`` (node rows of
    tree i: ``node_ptr[i]:node_ptr[i+1]``), ``node_<field>`` per node field, ``values`` (nodes, 1, classes),
    per task ``classes_<t>`` (classifiers).
    """
    trees = [(t, e.tree_) for t, forest in enumerate(forests) for e in forest.estimators_]
    states = [tree.__getstate__() for _, tree in trees]
    nodes = np.concatenate([s["nodes"] for s in states])
    width = max(s["values"].shape[2] for s in states)
    values = np.concatenate([np.pad(s["values"], ((0, 0), (0, 0), (0, width - s["values"].shape[2]))) for s in states])
    arrays = {
        "format": np.array(FOREST_FORMAT),
        "format_version": np.array(FOREST_FORMAT_VERSION),
        "metadata": np.array(json.dumps(metadata)),
        "task": np.array("regression" if isinstance(forests[0], RandomForestRegressor) else "classification"),
        "n_features": np.array(forests[0].n_features_in_),
        "tree_task": np.array([t for t, _ in trees]),
        "max_depth": np.array([s["max_depth"] for s in states]),
        "node_ptr": np.cumsum([0] + [s["node_count"] for s in states]),
        "values": values,
        **{f"node_{field}": nodes[field] for field in nodes.dtype.names},
    }
    if arrays["task"] == "classification":
        arrays |= {f"classes_{t}": forest.classes_ for t, forest in enumerate(forests)}
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _tree(kind, n_features, classes, state):
    """A fitted scikit-learn decision tree from its node table and values."""
    n_classes = np.array([1 if classes is None else len(classes)], dtype=np.intp)
    tree = Tree(n_features, n_classes, 1)
    tree.__setstate__(state)
    estimator = kind()
    estimator.tree_, estimator.n_features_in_, estimator.n_outputs_ = tree, n_features, 1
    estimator.max_features_ = n_features
    if classes is not None:
        estimator.classes_, estimator.n_classes_ = classes, len(classes)
    return estimator


def load_forests(path):
    """``(forests, metadata)`` written by :func:`save_forests`; never unpickles. Errors name the file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise InputError(f"fingerprint forest '{path}' is not a readable .npz file: {err}") from None
    if str(arrays.get("format", "")) != FOREST_FORMAT or int(arrays["format_version"]) != FOREST_FORMAT_VERSION:
        raise InputError(
            f"'{path}' is not a fingerprint forest of format {FOREST_FORMAT} version {FOREST_FORMAT_VERSION}; "
            "re-run the training job that wrote it"
        )
    missing = [f for f in NODE_DTYPE.names if f"node_{f}" not in arrays]
    if missing:
        raise InputError(f"'{path}': trees lack node fields {missing} of this scikit-learn; re-run its training job")
    regression = str(arrays["task"]) == "regression"
    forest_kind, tree_kind = (
        (RandomForestRegressor, DecisionTreeRegressor)
        if regression
        else (RandomForestClassifier, DecisionTreeClassifier)
    )
    n_features, ptr = int(arrays["n_features"]), arrays["node_ptr"]
    forests = []
    for t in range(int(arrays["tree_task"].max()) + 1):
        classes = None if regression else arrays[f"classes_{t}"]
        estimators = []
        for i in np.flatnonzero(arrays["tree_task"] == t):
            rows = slice(ptr[i], ptr[i + 1])
            nodes = np.zeros(ptr[i + 1] - ptr[i], dtype=NODE_DTYPE)
            for field in NODE_DTYPE.names:
                nodes[field] = arrays[f"node_{field}"][rows]
            width = 1 if regression else len(classes)
            state = {
                "max_depth": int(arrays["max_depth"][i]),
                "node_count": len(nodes),
                "nodes": nodes,
                "values": np.ascontiguousarray(arrays["values"][rows, :, :width]),
            }
            estimators.append(_tree(tree_kind, n_features, classes, state))
        forest = forest_kind(n_estimators=len(estimators))
        forest.estimators_, forest.n_features_in_, forest.n_outputs_ = estimators, n_features, 1
        if classes is not None:
            forest.classes_, forest.n_classes_ = classes, len(classes)
        forests.append(forest)
    return forests, json.loads(str(arrays["metadata"]))
