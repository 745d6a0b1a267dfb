"""scVI / scANVI embeddings, query surgery and the calibrated 'unassigned' rule: units, then real Snakemake runs."""

import anndata
import numpy as np
import pandas as pd
import pytest
import torch

from dlbio.apply.novelty import TypeDistance, calibrate, fit_markers, flag, marker_lack
from dlbio.data.cell_reference import load_reference, save_reference
from dlbio.data.cells import read_cells
from dlbio.data.simulate_cells import simulate_atlas
from dlbio.errors import InputError
from dlbio.train.cell_embedding import preprocess, project_query
from dlbio.train.scvi_embedding import (
    UNLABELLED,
    _anndata,
    check_batches,
    fit_scvi,
    latent,
    scvi_arrays,
    scvi_from_arrays,
    surgery,
)
from helpers import snakemake

SCVI = {
    "n_latent": 6, "n_hidden": 32, "n_layers": 1, "dropout_rate": 0.1, "gene_likelihood": "nb", "batch_size": 64,
    "max_epochs": 4, "scanvi_max_epochs": 2, "early_stopping": False, "patience": 45, "encode_covariates": True,
    "use_layer_norm": "both", "use_batch_norm": "none",
}  # fmt: skip


def blobs(centres, n, rng, spread=1.0):
    return np.concatenate([rng.normal(c, spread, (n, 2)) for c in centres]), np.repeat(np.arange(len(centres)), n)


def test_novelty_rule_flags_an_unseen_type_at_the_calibrated_rate():
    rng = np.random.default_rng(0)
    train, y = blobs([(0, 0), (12, 0)], 300, rng)
    val, y_val = blobs([(0, 0), (12, 0)], 500, rng)
    distance = TypeDistance(train, y, k=10)
    confidence = rng.uniform(0.6, 1.0, len(val))
    thresholds = calibrate([-confidence, distance.ratio(val, y_val)], 0.05)
    assert 0.03 <= np.mean(flag([-confidence, distance.ratio(val, y_val)], thresholds)) <= 0.05
    known, y_known = blobs([(0, 0), (12, 0)], 500, rng)
    novel, _ = blobs([(6, 9)], 200, rng)  # a type the reference never saw, confidently forced into type 0
    known_flags = flag([-rng.uniform(0.6, 1.0, len(known)), distance.ratio(known, y_known)], thresholds)
    novel_flags = flag([-np.ones(len(novel)), distance.ratio(novel, np.zeros(len(novel), int))], thresholds)
    assert novel_flags.all() and known_flags.mean() < 0.1


def expression(types, rng, n_genes=30):
    """Log-expression of cells of ``types``: noise, and genes 5t…5t+4 raised by 2 for type t (-1: no markers)."""
    x = rng.normal(0, 0.5, (len(types), n_genes))
    for t in np.unique(types[types >= 0]):
        x[types == t, 5 * t : 5 * t + 5] += 2
    return x


def test_markers_are_each_types_raised_genes_and_a_cell_without_them_lacks_them():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 200)
    markers = fit_markers(expression(y, rng), y, 4, n_markers=5)  # class 3 has no training cells
    assert [sorted(genes) for genes in markers["genes"][:3]] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]
    assert (markers["genes"][3] == -1).all()
    np.testing.assert_allclose(markers["mean"][:3], 2, atol=0.15)
    val_types = np.repeat([0, 1, 2], 300)
    lack = marker_lack(expression(val_types, rng), val_types, markers)
    threshold = calibrate([lack], 0.05)
    novel = expression(np.full(200, -1), rng)  # a type the reference never saw, called type 1: no type-1 markers
    assert flag([marker_lack(novel, np.ones(200, int), markers)], threshold).all()
    known = expression(val_types, rng)
    assert flag([marker_lack(known, val_types, markers)], threshold).mean() < 0.1
    assert (marker_lack(novel, np.full(200, 3), markers) == 0).all()  # no markers: never flagged by them
    measured = (np.arange(30) < 5) | (np.arange(30) >= 10)  # a query without type 1's markers (genes 5-9)
    assert (marker_lack(np.zeros((200, 30)), np.ones(200, int), markers, measured) == 0).all()
    partly = expression(np.zeros(200, int), rng)
    partly[:, :2] = 0  # genes 0 and 1 missing from the query, zero-filled
    judged_by_all = flag([marker_lack(partly, np.zeros(200, int), markers)], threshold).mean()
    judged_by_measured = flag([marker_lack(partly, np.zeros(200, int), markers, np.arange(30) >= 2)], threshold).mean()
    assert judged_by_all > 0.5 and judged_by_measured < 0.2  # fewer markers: a noisier mean, not a missing type


def test_distance_is_relative_to_each_types_density():
    rng = np.random.default_rng(1)
    tight, _ = blobs([(0, 0)], 300, rng, spread=0.1)
    wide, _ = blobs([(20, 0)], 300, rng, spread=3.0)
    distance = TypeDistance(np.concatenate([tight, wide]), np.repeat([0, 1], 300), k=10)
    point = np.array([[1.0, 0.0], [21.0, 0.0]])  # one unit from each centre
    ratio = distance.ratio(point, np.array([0, 1]))
    assert ratio[0] > 5 and ratio[1] < 2


def test_calibrate_with_no_rate_flags_nothing():
    confidence, ratio = np.linspace(0.2, 1, 50), np.linspace(0, 3, 50)
    assert not flag([-confidence * 0, ratio + 99], calibrate([-confidence, ratio], 0.0)).any()


@pytest.fixture(scope="module")
def atlas():
    """Four donors; donor3 is the query and type6 is missing from the reference."""
    torch.set_num_threads(1)
    cells = simulate_atlas(1200, n_genes=200, seed=0)
    reference = cells[(cells.obs["donor"] != "donor3") & (cells.obs["cell_type"] != "type6")].copy()
    return reference, cells[cells.obs["donor"] == "donor3"].copy()


@pytest.fixture(scope="module")
def scanvi(atlas):
    reference, _ = atlas
    labels = np.where(np.arange(reference.n_obs) % 4 == 0, UNLABELLED, reference.obs["cell_type"].astype(str))
    model, history = fit_scvi(
        "scanvi", reference.X, reference.var_names, reference.obs["donor"], labels, SCVI, 0, "cpu"
    )
    arrays = {"embedding": "scanvi", "features": np.asarray(reference.var_names, dtype=str)} | scvi_arrays(model, "scanvi", SCVI)
    return model, history, arrays


def test_scanvi_trains_after_scvi_and_rebuilds_from_its_arrays(atlas, scanvi, tmp_path):
    reference, _ = atlas
    model, history, arrays = scanvi
    assert list(history["stage"]) == ["scvi"] * 4 + ["scanvi"] * 2 and history["val_loss"].notna().all()
    np.savez(tmp_path / "model.npz", **arrays)  # plain arrays: read back without pickles
    with np.load(tmp_path / "model.npz", allow_pickle=False) as stored:
        restored = {name: stored[name].item() if stored[name].ndim == 0 else stored[name] for name in stored.files}
    rebuilt = scvi_from_arrays(restored)
    cells = _anndata(reference.X, reference.var_names, reference.obs["donor"], np.full(reference.n_obs, UNLABELLED))
    assert np.allclose(latent(rebuilt, cells), latent(model), atol=1e-5)


def test_surgery_leaves_the_reference_latent_unchanged(atlas, scanvi):
    reference, query = atlas
    model, _, arrays = scanvi
    mapped = surgery(arrays, query.X, query.obs["donor"], 3, 0, "cpu")
    assert "donor3" in mapped.adata.obs["batch"].cat.categories
    cells = _anndata(reference.X, reference.var_names, reference.obs["donor"], np.full(reference.n_obs, UNLABELLED))
    assert np.allclose(latent(mapped, cells), latent(model), atol=1e-5)
    assert latent(mapped).shape == (query.n_obs, SCVI["n_latent"])


def scvi_params(embedding, **changes):
    params = {
        "input": "counts", "min_genes": 10, "min_cells": 3, "max_pct_mt": None, "mt_prefix": "MT-", "target_sum": 1e4,
        "n_top_genes": 150, "scale": True, "scale_max": 10, "n_pcs": 10, "embedding": embedding,
        "integration": "none", "scvi": SCVI,
    }  # fmt: skip
    return params | changes


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"input": "normalized"}, "models raw counts, but preprocess.input is 'normalized'"),
        ({"integration": "harmony"}, "preprocess.integration must be none"),
        ({"scvi": SCVI | {"batch_size": 500}}, r"fewer cells than preprocess.scvi.batch_size = 500: 'donor\d' \(\d+\)"),
    ],
)
def test_bad_scvi_settings_fail_before_training(atlas, changes, message):
    with pytest.raises(InputError, match=message):
        preprocess(atlas[0].copy(), scvi_params("scvi", **changes), 0, batch_key="donor")


def test_small_batch_is_named():
    with pytest.raises(InputError, match="'b' \\(3\\)"):
        check_batches(["a"] * 10 + ["b"] * 3, 5)


def test_learned_reference_needs_counts_from_the_query(atlas, scanvi):
    _, query = atlas
    arrays = scanvi[2] | {"input": "counts", "genes": scanvi[2]["features"], "integration": "none"}
    with pytest.raises(InputError, match="reads raw counts, but config key 'cells.x.query.input' is 'normalized'"):
        project_query(query, arrays, 0.5, "q.h5ad", "normalized", key="cells.x.query")


def test_repeated_cell_names_are_made_unique(tmp_path, caplog):
    cells = simulate_atlas(30, n_genes=20)
    cells.obs_names = ["c"] * 30
    cells.write_h5ad(tmp_path / "dup.h5ad")
    with caplog.at_level("INFO"):
        read = read_cells(str(tmp_path / "dup.h5ad"), "cells.x.h5ad")
    assert read.obs_names.is_unique and "29 cell names repeat" in caplog.text


def scvi_config(reference, query, embedding, **query_settings):
    return {
        "cells": {
            "atlas": {
                "h5ad": str(reference),
                "label_key": "cell_type",
                "batch_key": "donor",
                "preprocess": scvi_params(embedding, max_pct_mt=None),
                "graph": {"k": 10},
                "models": ["sage"],
                "gnn": {"hidden": 16, "max_epochs": 30, "patience": 10},
                "query": {"h5ad": [str(query)], "label_key": "cell_type", "max_epochs": 3} | query_settings,
            }
        }
    }


@pytest.fixture(scope="module")
def scvi_run(tmp_path_factory, atlas):
    workdir = tmp_path_factory.mktemp("scvi")
    reference, query = atlas
    reference.write_h5ad(workdir / "reference.h5ad")
    query.write_h5ad(workdir / "donor3.h5ad")
    config = scvi_config(workdir / "reference.h5ad", workdir / "donor3.h5ad", "scvi")
    result = snakemake(workdir, config, "results/cells/atlas/query/donor3/annotations.tsv")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config


@pytest.mark.workflow
def test_a_new_donor_is_mapped_and_its_unseen_type_flagged(scvi_run, atlas):
    workdir, _ = scvi_run
    out = workdir / "results/cells/atlas/query/donor3"
    scores = pd.read_csv(out / "metrics.tsv", sep="\t").set_index("model")
    n_novel = int((atlas[1].obs["cell_type"] == "type6").sum())
    assert sorted(scores.index) == ["logreg", "sage"] and (scores["unknown_labels"] == n_novel).all()
    assert scores["novel_flagged"].between(0, 1).all() and scores["known_flagged"].between(0, 1).all()
    annotated = anndata.read_h5ad(out / "annotated.h5ad")
    assert annotated.obsm["X_reference_embedding"].shape == (atlas[1].n_obs, SCVI["n_latent"])
    reference = load_reference(workdir / "results/cells/atlas/reference.npz")
    assert reference["embedding"] == "scvi" and list(reference["scvi_batches"]) == ["donor0", "donor1", "donor2"]
    fit = pd.read_csv(workdir / "results/cells/atlas/embedding_fit.tsv", sep="\t")
    assert len(fit) == SCVI["max_epochs"] and (fit["stage"] == "scvi").all()
    assert "new batches: donor3" in (workdir / "logs/cells/atlas/query/donor3.log").read_text()


@pytest.mark.workflow
def test_changing_only_the_query_retrains_nothing(scvi_run):
    workdir, config = scvi_run
    config["cells"]["atlas"]["query"]["unassigned_rate"] = 0.2
    result = snakemake(workdir, config, "results/cells/atlas/query/donor3/annotations.tsv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cells_annotate" in result.stderr
    assert "cells_prepare" not in result.stderr and "cells_train_gnn" not in result.stderr


@pytest.mark.workflow
def test_scanvi_reference_labels_a_query_without_a_batch_column(tmp_path, atlas):
    reference, query = atlas
    reference.write_h5ad(tmp_path / "reference.h5ad")
    del query.obs["donor"]
    query.write_h5ad(tmp_path / "new.h5ad")
    config = scvi_config(tmp_path / "reference.h5ad", tmp_path / "new.h5ad", "scanvi")
    result = snakemake(tmp_path, config, "results/cells/atlas/query/new/annotations.tsv")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/cells/atlas/query/new/annotations.tsv", sep="\t")
    assert len(table) == 2 * query.n_obs and {"confidence", "distance_ratio"} <= set(table.columns)
    log = (tmp_path / "logs/cells/atlas/query/new.log").read_text()
    assert "has no batch column 'donor': its cells are one new batch" in log
    assert load_reference(tmp_path / "results/cells/atlas/reference.npz")["embedding"] == "scanvi"
