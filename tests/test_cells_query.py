"""Annotating query cells: model files, reference-space projection, inductive labelling, outputs."""

import anndata as ad
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from dlbio.apply.cells import (
    QUERY_EMBEDDING,
    UNASSIGNED,
    annotate,
    label_cells,
    load_models,
    load_query,
    with_query,
)
from dlbio.apply.novelty import reference_markers
from dlbio.data.cell_reference import load_reference, save_reference
from dlbio.errors import InputError
from dlbio.evaluate.calibration import ProbabilityCalibration, temper
from dlbio.models.cell_gnn import NodeClassifier
from dlbio.models.registry import CELL_GNNS
from dlbio.train.cell_baseline import fit_logistic, load_logistic, save_logistic
from dlbio.train.cell_embedding import prepare_cell_dataset
from dlbio.train.cell_gnn import (
    MODEL_FORMAT,
    fit_node_classifier,
    load_node_classifier,
    predict_nodes,
    save_node_classifier,
)
from helpers import schema_defaults

CPU = torch.device("cpu")
GNN = {"hidden": 32, "layers": 2, "dropout": 0.3, "heads": 4}  # NodeClassifier's settings
TRAIN = schema_defaults("cells", h5ad="-", label_key="-", gnn=GNN | {"max_epochs": 80, "patience": 15})["gnn"]
TRAINED = ("gcn", "sage")


@pytest.fixture(scope="module")
def trained(pbmc, tmp_path_factory):
    """pbmc68k_reduced: 500 cells prepared as the reference, the other 200 as a labelled query; a GCN, a
    GraphSAGE and the logistic baseline trained on the reference and saved."""
    tmp = tmp_path_factory.mktemp("query")
    held_out = np.zeros(pbmc.n_obs, dtype=bool)
    held_out[np.random.default_rng(0).permutation(pbmc.n_obs)[:200]] = True
    pbmc[~held_out].write_h5ad(tmp / "reference.h5ad")
    pbmc[held_out].write_h5ad(tmp / "query.h5ad")
    cfg = {
        "h5ad": str(tmp / "reference.h5ad"),
        "label_key": "bulk_labels",
        "batch_key": None,
        "seed": 0,
        "preprocess": {"input": "normalized", "embedding": "pca", "integration": "none", "target_sum": 1e4, "n_top_genes": None, "scale": True,
                       "scale_max": 10, "n_pcs": 30},
        "graph": {"k": 10, "metric": "euclidean", "symmetrize": "union", "method": "exact"},
        "split": {"val": 0.2, "test": 0.2},
    }  # fmt: skip
    tensors, cells, reference, _ = prepare_cell_dataset("pbmc", cfg)
    save_reference(reference, tmp / "reference.npz")
    graph = Data(**tensors)
    val, y = tensors["val_mask"].numpy(), tensors["y"].numpy()
    paths, temperatures = {}, {}
    for arch in TRAINED:
        model, _ = fit_node_classifier(arch, graph, TRAIN, CPU, seed=0)
        paths[arch] = tmp / f"{arch}.pt"
        temperatures[arch] = ProbabilityCalibration.fit(predict_nodes(model, graph, CPU)[0][val], y[val]).temperature
        save_node_classifier(model, arch, TRAIN, paths[arch], temperatures[arch])
    train = tensors["train_mask"].numpy()
    logistic = fit_logistic(tensors["x"].numpy()[train], y[train], C=1.0, max_iter=1000, seed=0)
    paths["logreg"] = tmp / "logreg.npz"
    val_proba = logistic.predict_proba(tensors["x"].numpy())[val]
    temperatures["logreg"] = ProbabilityCalibration.fit(val_proba, y[val]).temperature
    save_logistic(logistic, paths["logreg"], temperatures["logreg"])
    reference = load_reference(tmp / "reference.npz")
    markers = reference_markers(cfg["h5ad"], reference, cells, 20, "h5ad")
    return {"tmp": tmp, "graph": graph, "reference": reference, "markers": markers, "paths": paths,
            "temperatures": temperatures}  # fmt: skip


def annotate_with(trained, query, models, source, **settings):
    """:func:`annotate` against the ``trained`` fixture's reference."""
    return annotate(query, trained["reference"], trained["graph"], models, source, trained["markers"],
                    min_shared_fraction=0.5, **settings)  # fmt: skip


def reference_test_accuracy(model, graph):
    proba = (
        model.predict_proba(graph.x.numpy()) if hasattr(model, "predict_proba") else predict_nodes(model, graph, CPU)[0]
    )
    test = graph.test_mask.numpy()
    return float(np.mean(proba.argmax(1)[test] == graph.y.numpy()[test]))


def test_held_out_query_is_labelled_about_as_well_as_the_reference_test_cells(trained):
    models = load_models(trained["paths"], trained["reference"])
    query = load_query(str(trained["tmp"] / "query.h5ad"), "normalized", key="cells.pbmc.query")
    table, metrics = annotate_with(trained, query, models, "query.h5ad", label_key="bulk_labels", unassigned_rate=0.0)
    metrics = metrics.set_index("model")
    for name, (model, _) in models.items():
        expected = reference_test_accuracy(model, trained["graph"])
        assert expected > 0.6
        assert metrics.loc[name, "accuracy"] == pytest.approx(expected, abs=0.1), name
        assert metrics.loc[name, "n_labelled"] == 200 and metrics.loc[name, "unassigned"] == 0
    assert {"macro_f1", "f1/CD19+ B", "unknown_labels"} <= set(metrics.columns)
    assert list(table.columns) == ["cell", "model", "predicted", "confidence", "distance_ratio", "marker_lack", "label"]
    assert len(table) == 3 * 200


def test_annotated_query_is_written_with_predictions_and_reference_pcs(trained, tmp_path):
    models = load_models({"sage": trained["paths"]["sage"]}, trained["reference"])
    query = load_query(str(trained["tmp"] / "query.h5ad"), "normalized")
    table, metrics = annotate_with(trained, query, models, "q.h5ad")
    assert metrics is None and "label" not in table
    query.write_h5ad(tmp_path / "annotated.h5ad")
    back = ad.read_h5ad(tmp_path / "annotated.h5ad")
    assert back.obsm[QUERY_EMBEDDING].shape == (200, 30)
    assert list(back.obs["sage_prediction"].astype(str)) == list(table["predicted"])
    assert np.allclose(back.obs["sage_confidence"], table["confidence"], atol=1e-4)


def test_query_confidences_are_calibrated_by_the_kept_temperature(trained):
    models = load_models({"logreg": trained["paths"]["logreg"]}, trained["reference"])
    (logistic, temperature), fitted = models["logreg"], trained["temperatures"]["logreg"]
    assert temperature == fitted and abs(temperature - 1) > 0.05
    query = load_query(str(trained["tmp"] / "query.h5ad"), "normalized")
    table, _ = annotate_with(trained, query, models, "q")
    raw = logistic.predict_proba(query.obsm[QUERY_EMBEDDING])
    np.testing.assert_allclose(table["confidence"], temper(raw, temperature).max(1), atol=1e-4)
    assert not np.allclose(table["confidence"], raw.max(1), atol=1e-3)


def test_a_query_cell_is_labelled_the_same_alone_or_with_others(trained):
    models = load_models({"gcn": trained["paths"]["gcn"]}, trained["reference"])
    query = load_query(str(trained["tmp"] / "query.h5ad"), "normalized")
    full, _ = annotate_with(trained, query, models, "q")
    part, _ = annotate_with(trained, query[:7].copy(), models, "q")
    assert np.allclose(part["confidence"], full["confidence"][:7], atol=1e-4)


@pytest.mark.parametrize("arch", CELL_GNNS)
def test_appending_query_cells_leaves_the_reference_outputs_unchanged(trained, arch):
    torch.manual_seed(0)
    graph, reference = trained["graph"], trained["reference"]
    model = NodeClassifier(arch, 30, 10, **GNN).eval()
    x_query = np.random.default_rng(0).normal(size=(50, 30)).astype(np.float32)
    alone = predict_nodes(model, graph, CPU)[0]
    joint = with_query(graph, x_query, reference)
    assert joint.num_nodes == graph.num_nodes + 50 and joint.num_edges == graph.num_edges + 50 * reference["k"]
    assert np.allclose(predict_nodes(model, joint, CPU)[0][: graph.num_nodes], alone, atol=1e-6)


def test_flagged_cells_are_unassigned():
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]])
    predicted, confidence = label_cells(proba, np.array(["a", "b"]), np.array([False, True, False]))
    assert list(predicted) == ["a", UNASSIGNED, "b"] and np.array_equal(confidence, [0.9, 0.55, 0.8])


def test_query_contradicting_its_declared_input_is_an_error(trained):
    with pytest.raises(InputError, match=r"config key 'cells.pbmc.query.input' is 'counts' but '.*query.h5ad' has neg"):
        load_query(str(trained["tmp"] / "query.h5ad"), "counts", key="cells.pbmc.query")


def test_query_with_too_few_shared_genes_is_an_error(trained):
    query = load_query(str(trained["tmp"] / "query.h5ad"), "normalized")
    models = load_models({"logreg": trained["paths"]["logreg"]}, trained["reference"])
    few = query[:, :100].copy()
    with pytest.raises(InputError, match=r"'few.h5ad' shares 100 of the reference's 765 model genes \(13.1%\)"):
        annotate_with(trained, few, models, "few.h5ad")


def test_model_files_reload_to_identical_predictions(trained):
    graph = trained["graph"]
    x = graph.x.numpy()
    for arch in TRAINED:
        path = trained["paths"][arch]
        saved = torch.load(path, weights_only=True)
        assert saved["arch"] == arch and saved["format"] == MODEL_FORMAT and saved["in_dim"] == 30
        model, temperature = load_node_classifier(path, arch, 30, 10)
        assert temperature == trained["temperatures"][arch] > 0
        rebuilt = NodeClassifier(arch, 30, 10, **GNN).eval()
        rebuilt.load_state_dict(saved["state_dict"])
        assert np.array_equal(predict_nodes(model, graph, CPU)[0], predict_nodes(rebuilt, graph, CPU)[0])
    train = graph.train_mask.numpy()
    fitted = fit_logistic(x[train], graph.y.numpy()[train], C=1.0, max_iter=1000, seed=0)
    loaded, temperature = load_logistic(trained["paths"]["logreg"], 30, 10)
    assert np.array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
    assert temperature == trained["temperatures"]["logreg"]


def test_model_file_of_another_architecture_or_format_is_refused(trained, tmp_path):
    gcn, logreg = trained["paths"]["gcn"], trained["paths"]["logreg"]
    with pytest.raises(InputError, match=r"gcn.pt' holds a model with arch = 'gcn', expected 'sage'"):
        load_node_classifier(gcn, "sage")
    with pytest.raises(InputError, match=r"gcn.pt' holds a model with n_classes = 10, expected 7"):
        load_node_classifier(gcn, "gcn", 30, 7)
    saved = torch.load(gcn, weights_only=True)
    torch.save(saved["state_dict"], tmp_path / "bare.pt")
    with pytest.raises(InputError, match="bare.pt' is not a cell GNN model file of this version"):
        load_node_classifier(tmp_path / "bare.pt")
    torch.save(saved | {"format": MODEL_FORMAT - 1}, tmp_path / "old.pt")
    with pytest.raises(InputError, match=rf"old.pt' is a cell GNN model file of format {MODEL_FORMAT - 1}"):
        load_node_classifier(tmp_path / "old.pt")
    torch.save(saved | {"arch": "sage"}, tmp_path / "relabelled.pt")
    with pytest.raises(InputError, match="relabelled.pt': the weights do not fit a 'sage' model"):
        load_node_classifier(tmp_path / "relabelled.pt")
    with pytest.raises(InputError, match="logreg.npz' cannot be read as a cell GNN model file"):
        load_node_classifier(logreg)
    with pytest.raises(InputError, match="gcn.pt' is not a logistic-regression model file"):
        load_logistic(gcn)
    with pytest.raises(InputError, match=r"logreg.npz' holds a model with n_features = 30, expected 20"):
        load_logistic(logreg, 20)
    with pytest.raises(InputError, match=r"gcn.pt' holds a model with arch = 'gcn', expected 'gat'"):
        load_models({"gat": gcn}, trained["reference"])


def test_unlabeled_reference_cells_are_labelled_by_the_trained_models(pbmc, tmp_path):
    adata = pbmc.copy()
    adata.obs["bulk_labels"] = adata.obs["bulk_labels"].astype(object)
    adata.obs.iloc[:40, adata.obs.columns.get_loc("bulk_labels")] = None
    adata.write_h5ad(tmp_path / "partly.h5ad")
    cfg = {
        "h5ad": str(tmp_path / "partly.h5ad"),
        "label_key": "bulk_labels",
        "batch_key": None,
        "seed": 0,
        "preprocess": {"input": "normalized", "embedding": "pca", "integration": "none", "n_top_genes": None, "scale": False, "scale_max": None, "n_pcs": 20,
                       "target_sum": 1e4},
        "graph": {"k": 10, "metric": "euclidean", "symmetrize": "union", "method": "exact"},
        "split": {"val": 0.2, "test": 0.2},
    }  # fmt: skip
    tensors, cells, reference, _ = prepare_cell_dataset("partly", cfg)
    graph = Data(**tensors)
    model, _ = fit_node_classifier("sage", graph, TRAIN | {"max_epochs": 5}, CPU, seed=0)
    proba = predict_nodes(model, graph, CPU)[0]
    predicted, _ = label_cells(proba[:40], reference["classes"], np.zeros(40, dtype=bool))
    assert (cells["split"][:40] == "unlabeled").all() and set(predicted) <= set(reference["classes"])
