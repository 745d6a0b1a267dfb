"""Annotating query cells with every trained model of a cell dataset, without retraining.

Query cells are mapped into the reference's embedding (:func:`dlbio.train.cell_embedding.project_query`: its PCs
or autoencoder, or scVI / scANVI by surgery) and each is linked to its ``k`` nearest reference cells with the
reference graph's edge kernel and bandwidth. The edges run from reference to query cells only: a query cell
receives messages and sends none, so the reference cells' outputs are those of training and a query cell's label
does not depend on the other query cells. The logistic baseline reads the query embedding directly. Every model's
probabilities are calibrated by the temperature kept with it (fitted on the reference's validation cells:
:mod:`dlbio.evaluate.calibration`) before anything reads them; a cell is then 'unassigned' by the rule of
:mod:`dlbio.apply.novelty`, whose thresholds are set on the same validation cells' calibrated outputs.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch_geometric.data import Data

from dlbio.data.cells import UNLABELED, check_declared_input, link_new_cells, read_cells, read_labels
from dlbio.apply.novelty import TypeDistance, calibrate, flag, marker_lack
from dlbio.errors import InputError
from dlbio.evaluate.calibration import temper
from dlbio.models.cell_gnn import NodeClassifier
from dlbio.models.registry import CELL_BASELINE
from dlbio.train.cell_baseline import load_logistic
from dlbio.train.cell_embedding import embedding_dims, normalised_features, project_query
from dlbio.train.cell_gnn import load_node_classifier, predict_nodes

QUERY_EMBEDDING = "X_reference_embedding"  # .obsm key of the query cells' reference-space embedding
UNASSIGNED = "unassigned"  # label of a cell the novelty rule flags (low confidence or far from its type)


def load_query(source, declared, key="query"):
    """Read a query .h5ad (config key ``key``.h5ad) whose values must fit its declared input (``key``.input)."""
    adata = read_cells(source, f"{key}.h5ad")
    check_declared_input(adata, declared, source, key=f"{key}.input")
    return adata


def load_models(paths, reference):
    """Model name (``CELL_BASELINE`` or a cell GNN) → file, loaded as ``(model, temperature)`` and checked against
    the reference's embedding dimensions and class counts."""
    n_dims, n_classes = embedding_dims(reference), len(reference["classes"])
    return {
        name: (
            load_logistic(path, n_dims, n_classes)
            if name == CELL_BASELINE
            else load_node_classifier(path, name, n_dims, n_classes)
        )
        for name, path in paths.items()
    }


def with_query(graph, x_query, reference, device="cpu"):
    """The reference ``graph`` with the query cells appended as nodes, each receiving edges from its nearest reference
    cells found as the reference graph was built (:func:`dlbio.data.cells.link_new_cells`)."""
    settings = {"k": reference["k"], "metric": reference["metric"], "method": reference["knn_method"]}
    edge_index, edge_weight = link_new_cells(graph.x.numpy(), x_query, settings, reference["bandwidth"], device=device)
    return Data(
        x=torch.cat([graph.x, torch.from_numpy(x_query)]),
        edge_index=torch.cat([graph.edge_index, edge_index], 1),
        edge_weight=torch.cat([graph.edge_weight, edge_weight]),
    )


def label_cells(proba, classes, unassigned):
    """Predicted class names and confidences (highest probability); where ``unassigned``: ``UNASSIGNED``."""
    confidence = proba.max(1)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(1)]
    predicted[unassigned] = UNASSIGNED
    return predicted, confidence


def type_distance(graph, classes, reference):
    """The distance ratios to the types of the reference graph's training cells (:class:`TypeDistance`)."""
    train = graph.train_mask.numpy()
    labels = np.asarray(classes, dtype=object)[graph.y.numpy()[train]]
    return TypeDistance(graph.x.numpy()[train], labels, reference["k"], reference["metric"])


def novelty_rule(distance, markers, graph, classes, reference_proba, rate):
    """One model's unassigned rule: ``distance`` (:func:`type_distance`), ``markers``
    (:func:`dlbio.apply.novelty.reference_markers`) and thresholds calibrated on the validation cells' predictions
    ``reference_proba`` (rows: every reference node) for the false-unassigned ``rate``
    (:func:`dlbio.apply.novelty.calibrate`). Returns a function (embedding, expression, measured genes, proba) → flags,
    distance ratios, marker lacks."""
    classes = np.asarray(classes, dtype=object)
    val = graph.val_mask.numpy()
    val_proba = reference_proba[val]
    predicted = val_proba.argmax(1)
    scores = [
        -val_proba.max(1),
        distance.ratio(graph.x.numpy()[val], classes[predicted]),
        markers["val_lack"][np.arange(len(predicted)), predicted],
    ]
    thresholds = calibrate(scores, rate)

    def rule(x_query, expression, measured, proba):
        predicted = proba.argmax(1)
        ratio = distance.ratio(x_query, classes[predicted])
        lack = marker_lack(expression, predicted, markers, measured)
        return flag([-proba.max(1), ratio, lack], thresholds), ratio, lack

    return rule


def query_metrics(labels, predicted, classes, model, top):
    """Accuracy, macro-F1 and per-class F1 over the query's labelled cells and their classes; the accuracy of the
    top class ``top`` before the unassigned rule (``top_accuracy``: as a test split is scored); the share left
    unassigned, the cells whose label the reference does not know (always wrong), the share of those that were
    flagged unassigned (``novel_flagged``, NaN without any) and of the cells of known types (``known_flagged``)."""
    known = labels != UNLABELED
    true, pred = labels[known], predicted[known]
    novel = ~np.isin(true, classes)
    flagged = pred == UNASSIGNED
    present = np.unique(true)
    f1 = f1_score(true, pred, labels=present, average=None, zero_division=0)
    return {
        "model": model,
        "n_labelled": int(known.sum()),
        "accuracy": float(accuracy_score(true, pred)),
        "top_accuracy": float(accuracy_score(true, top[known])),
        "macro_f1": float(f1.mean()),
        "unassigned": float(np.mean(pred == UNASSIGNED)),
        "unknown_labels": int(novel.sum()),
        "novel_flagged": float(flagged[novel].mean()) if novel.any() else np.nan,
        "known_flagged": float(flagged[~novel].mean()) if (~novel).any() else np.nan,
        **{f"f1/{c}": float(f) for c, f in zip(present, f1)},
    }


def annotate(
    query,
    reference,
    graph,
    models,
    source,
    markers,
    *,
    declared=None,
    min_shared_fraction,
    unassigned_rate=0.05,
    label_key=None,
    device=torch.device("cpu"),
    key="query",
    surgery=None,
):
    """Label every cell of ``query`` (an AnnData read from ``source``) with every model of ``models``.

    ``reference`` is the prepared dataset's reference (:func:`dlbio.data.cell_reference.load_reference`), ``graph``
    its graph ``Data`` (with masks), ``models`` name → ``(model, temperature)`` (:func:`load_models`), ``markers``
    the reference's (:func:`dlbio.apply.novelty.reference_markers`); ``declared``,
    ``min_shared_fraction``, ``surgery`` as in :func:`project_query`; ``unassigned_rate``: the validation cells'
    share the unassigned rule may flag (:func:`novelty_rule`). Adds ``obs['<model>_prediction']``,
    ``obs['<model>_confidence']``, the rule's ``_distance_ratio`` and ``_marker_lack``, and
    ``obsm[QUERY_EMBEDDING]`` to ``query``. Returns the per-cell table (cell, model, predicted, confidence, distance
    ratio, marker lack, and label when ``label_key`` names the query's labels) and the metrics table (one row per
    model; ``None`` without labels).
    """
    labels = None
    if label_key is not None:
        labels = read_labels(query, label_key, source)
        if np.all(labels == UNLABELED):
            raise InputError(f"'{source}' (config key '{key}.label_key'): no cell has a label in '{label_key}'")
    x = project_query(query, reference, min_shared_fraction, source, declared, key, surgery)
    query.obsm[QUERY_EMBEDDING] = x
    expression = sp.csr_matrix(normalised_features(query, reference, declared or str(reference["input"])))
    measured = np.isin(reference["features"], query.var_names)
    gnns = any(isinstance(model, NodeClassifier) for model, _ in models.values())
    joint = with_query(graph, x, reference, device) if gnns else None
    distance = type_distance(graph, reference["classes"], reference)
    tables, metrics = [], []
    for name, (model, temperature) in models.items():
        if isinstance(model, NodeClassifier):
            proba = temper(predict_nodes(model.to(device), joint, device)[0], temperature)
            proba, reference_proba = proba[graph.num_nodes :], proba[: graph.num_nodes]
        else:
            proba = temper(model.predict_proba(x), temperature)
            reference_proba = temper(model.predict_proba(graph.x.numpy()), temperature)
        rule = novelty_rule(distance, markers, graph, reference["classes"], reference_proba, unassigned_rate)
        unassigned, ratio, lack = rule(x, expression, measured, proba)
        predicted, confidence = label_cells(proba, reference["classes"], unassigned)
        query.obs[f"{name}_prediction"] = pd.Categorical(predicted)
        query.obs[f"{name}_confidence"] = confidence
        query.obs[f"{name}_distance_ratio"] = ratio
        query.obs[f"{name}_marker_lack"] = lack
        table = {
            "cell": query.obs_names,
            "model": name,
            "predicted": predicted,
            "confidence": confidence.round(4),
            "distance_ratio": ratio.round(4),
            "marker_lack": lack.round(4),
        }
        tables.append(pd.DataFrame(table | ({} if labels is None else {"label": labels})))
        if labels is not None:
            top = np.asarray(reference["classes"], dtype=object)[proba.argmax(1)]
            metrics.append(query_metrics(labels, predicted, reference["classes"], name, top))
    return pd.concat(tables, ignore_index=True), None if labels is None else pd.DataFrame(metrics)
