"""Atlas-scale single-cell paths: sparse-aware preprocessing, approximate kNN, batches, the autoencoder embedding,
input-sized resources."""

import math

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

from dlbio.data.cell_reference import load_reference, save_reference
from dlbio.data.cells import assign_splits, knn_distances, knn_recall, link_new_cells, replicate_split
from dlbio.data.simulate_cells import simulate_atlas
from dlbio.errors import InputError
from dlbio.resources import matrix_megabytes
from dlbio.train.cell_embedding import prepare_cell_dataset, preprocess, project_query
from helpers import snakemake

GRAPH = {"k": 10, "metric": "euclidean", "symmetrize": "union", "method": "exact"}


@pytest.fixture(scope="module")
def atlas():
    """1,200 simulated raw-count cells of 4 types from 3 donors, 400 genes."""
    return simulate_atlas(1200, n_genes=400, n_types=4, n_donors=3, mean_count=1.0, seed=1)


def params(preprocess_params, **changes):
    return preprocess_params | {"n_top_genes": 200, "min_genes": 50} | changes


def aligned(a, b):
    """``b`` with each column's sign flipped to match ``a`` (principal components are defined up to sign)."""
    return b * np.sign((a * b).sum(axis=0))


def test_sparse_and_dense_preprocessing_give_the_same_pcs_as_scanpy_scale(atlas, preprocess_params):
    settings = params(preprocess_params, scale_max=None)
    sparse, reference, _ = preprocess(atlas.copy(), settings, 0)
    dense = atlas.copy()
    dense.X = dense.X.toarray()
    dense, _, _ = preprocess(dense, settings, 0)
    assert sp.issparse(sparse.X)  # never densified
    assert np.allclose(
        sparse.obsm["X_embedding"], aligned(sparse.obsm["X_embedding"], dense.obsm["X_embedding"]), atol=5e-3
    )
    classic = atlas.copy()  # the textbook path: densifying sc.pp.scale, then PCA
    sc.pp.filter_cells(classic, min_genes=50)
    sc.pp.filter_genes(classic, min_cells=3)
    sc.pp.normalize_total(classic, target_sum=1e4)
    sc.pp.log1p(classic)
    sc.pp.highly_variable_genes(classic, n_top_genes=200, subset=True)
    sc.pp.scale(classic)
    sc.pp.pca(classic, n_comps=20, svd_solver="arpack")
    ours = sparse.obsm["X_embedding"]
    assert np.allclose(ours, aligned(ours, classic.obsm["X_pca"]), atol=5e-3)
    assert np.allclose(project_query(atlas, reference | {"integration": "none"}, 0.5, "self"), ours, atol=1e-3)


def test_clipping_matches_scanpy_scale_max_for_stored_values(atlas, preprocess_params):
    sparse, reference, _ = preprocess(atlas.copy(), params(preprocess_params, scale_max=2), 0)
    classic = atlas.copy()
    sc.pp.filter_cells(classic, min_genes=50)
    sc.pp.filter_genes(classic, min_cells=3)
    sc.pp.normalize_total(classic, target_sum=1e4)
    sc.pp.log1p(classic)
    sc.pp.highly_variable_genes(classic, n_top_genes=200, subset=True)
    sc.pp.scale(classic, max_value=2)
    centred = sparse.X.toarray() - reference["scale_mean"] / reference["scale_std"]  # ours is scaled, not centred
    stored = sparse.X.toarray() != 0
    assert np.allclose(centred[stored], classic.X[stored], atol=1e-4) and classic.X[stored].max() == 2


@pytest.mark.slow
def test_approximate_neighbours_reach_high_recall_and_report_it():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(8, 10))[rng.integers(8, size=3000)] * 3 + rng.normal(size=(3000, 10))).astype(np.float32)
    exact, bandwidth, recall = knn_distances(x, 15, "euclidean", "exact")
    assert recall == 1.0
    approx, approx_bandwidth, approx_recall = knn_distances(x, 15, "euclidean", "approximate", seed=0)
    assert approx.shape == exact.shape and (approx.getnnz(axis=1) == 15).all() and approx.diagonal().sum() == 0
    truth = (approx.multiply(exact > 0) > 0).sum() / exact.nnz  # recall over every cell
    assert approx_recall >= 0.95 and approx_recall == pytest.approx(truth, abs=0.02)
    assert approx_bandwidth == pytest.approx(bandwidth, rel=0.02)
    indices = exact.indices.reshape(-1, 15)
    assert knn_recall(x, indices, 15, "euclidean") == 1.0
    assert knn_recall(x, np.roll(indices, 1, axis=0), 15, "euclidean") < 0.05


# here, beside the other approximate search: pynndescent compiles its kernels once per process (~1 minute)
@pytest.mark.parametrize("method", ["exact", pytest.param("approximate", marks=pytest.mark.slow)])
def test_new_cells_link_to_their_nearest_graph_cells_as_the_graph_was_searched(method):
    rng = np.random.default_rng(3)
    x, x_new = rng.normal(size=(300, 5)), rng.normal(size=(20, 5))
    graph = {"k": 6, "metric": "euclidean", "method": method}
    edge_index, edge_weight = link_new_cells(x, x_new, graph, bandwidth=1.0)
    nearest = np.argsort(((x_new[:, None] - x[None]) ** 2).sum(-1), axis=1)[:, :6]
    assert (edge_index[1].numpy() == np.repeat(np.arange(300, 320), 6)).all()
    found = edge_index[0].numpy().reshape(20, 6)
    assert np.mean([len(set(f) & set(n)) / 6 for f, n in zip(found, nearest)]) >= (1.0 if method == "exact" else 0.95)
    both, _ = link_new_cells(x, x_new, graph, bandwidth=1.0, both_ways=True)
    assert both.shape[1] == 240 and torch.equal(both[:, 120:], edge_index)
    assert torch.equal(both[:, :120], edge_index.flip(0))  # the new cells' own edges first
    assert (edge_weight > 0).all() and (edge_weight <= 1).all()


def test_batch_split_holds_out_whole_batches(atlas):
    labels = atlas.obs["cell_type"].astype(str).to_numpy().astype(object)
    split = {"method": "batch", "test": 0.34, "val": 0.2}
    assignment = assign_splits(labels, atlas.obs, split, 0, batch_key="donor")
    donors = atlas.obs["donor"].astype(str).to_numpy()
    held_out = set(donors[assignment == "test"])
    assert len(held_out) == 1 and held_out.isdisjoint(donors[assignment != "test"])
    listed = assign_splits(labels, atlas.obs, split | {"test": ["donor0", "donor2"]}, 0, batch_key="donor")
    assert set(donors[listed == "test"]) == {"donor0", "donor2"} and set(donors[listed != "test"]) == {"donor1"}
    with pytest.raises(InputError, match="split.method 'batch' needs the dataset's batch_key"):
        assign_splits(labels, atlas.obs, split, 0)


def config(atlas_path, preprocess_params, **changes):
    entry = {
        "h5ad": str(atlas_path),
        "label_key": "cell_type",
        "batch_key": "donor",
        "seed": 0,
        "preprocess": params(preprocess_params),
        "graph": GRAPH,
        "split": {"method": "batch", "test": 0.34, "val": 0.2},
    }
    return entry | changes


@pytest.fixture(scope="module")
def atlas_path(atlas, tmp_path_factory):
    path = tmp_path_factory.mktemp("atlas") / "atlas.h5ad"
    atlas.write_h5ad(path)
    return path


def test_resplit_replicates_hold_out_other_batches(atlas_path, preprocess_params):
    tensors, cells, reference, _ = prepare_cell_dataset("atlas", config(atlas_path, preprocess_params))
    held_out = set()
    for seed in range(4):
        replicate = {"index": seed, "seed": seed, "split": {"method": "batch", "test": 0.34, "val": 0.2}}
        _, table, _ = replicate_split(Data(**tensors), cells, reference["classes"], replicate)
        test = set(table["batch"][table["split"] == "test"])
        assert len(test) == 1 and test.isdisjoint(table["batch"][table["split"] != "test"])
        held_out |= test
    assert len(held_out) >= 2


def test_harmony_mixes_donors_and_refuses_queries(atlas_path, preprocess_params, tmp_path):
    def donor_mixing(entry):
        tensors, cells, reference, _ = prepare_cell_dataset("atlas", entry)
        src, dst = tensors["edge_index"].numpy()
        batch = cells["batch"].to_numpy()
        return float((batch[src] != batch[dst]).mean()), reference

    plain = config(atlas_path, preprocess_params, split={"val": 0.2, "test": 0.2})
    before, _ = donor_mixing(plain)
    after, reference = donor_mixing(plain | {"preprocess": params(preprocess_params, integration="harmony")})
    assert after > 3 * before  # neighbours come from other donors far more often after integration
    save_reference(reference, tmp_path / "ref.npz")
    with pytest.raises(InputError, match="integrated with harmony .*no fixed map for new cells such as 'q.h5ad'"):
        project_query(sc.read_h5ad(atlas_path), load_reference(tmp_path / "ref.npz"), 0.5, "q.h5ad")
    without_key = plain | {"batch_key": None, "preprocess": params(preprocess_params, integration="harmony")}
    with pytest.raises(InputError, match="integration 'harmony' needs the dataset's batch_key"):
        prepare_cell_dataset("atlas", without_key)


def test_unknown_batch_key_names_the_file(atlas_path, preprocess_params):
    with pytest.raises(InputError, match=r"dataset cells.atlas: '.*atlas.h5ad': batch_key 'patient' not in .obs"):
        prepare_cell_dataset("atlas", config(atlas_path, preprocess_params, batch_key="patient"))


def test_autoencoder_embedding_feeds_the_graph_and_maps_queries(atlas_path, preprocess_params, tmp_path):
    ae = preprocess_params["autoencoder"] | {"max_epochs": 15}
    entry = config(atlas_path, preprocess_params, split={"val": 0.2, "test": 0.2})
    entry["preprocess"] = params(preprocess_params, embedding="autoencoder", autoencoder=ae, n_pcs=8)
    tensors, cells, reference, history = prepare_cell_dataset("atlas", entry)
    assert tensors["x"].shape == (len(cells), 8) and reference["embedding"] == "autoencoder"
    assert history["val_loss"].min() < 0.8 * history["val_loss"].iloc[0]  # reconstruction improved
    save_reference(reference, tmp_path / "ref.npz")
    mapped = project_query(sc.read_h5ad(atlas_path), load_reference(tmp_path / "ref.npz"), 0.5, "same cells")
    kept = sc.read_h5ad(atlas_path).obs_names.get_indexer(cells["cell"])
    assert np.allclose(mapped[kept], tensors["x"].numpy(), atol=1e-4)


def test_matrix_megabytes_reads_the_header(atlas, atlas_path, tmp_path):
    expected = (atlas.X.data.nbytes + atlas.X.indices.nbytes + atlas.X.indptr.nbytes) / 1e6
    assert matrix_megabytes(atlas_path) == pytest.approx(expected)
    dense = atlas.copy()
    dense.X = dense.X.toarray()
    dense.write_h5ad(tmp_path / "dense.h5ad")
    assert matrix_megabytes(tmp_path / "dense.h5ad") == pytest.approx(atlas.n_obs * atlas.n_vars * 4 / 1e6)
    assert matrix_megabytes(tmp_path / "missing.h5ad") == 0.0
    (tmp_path / "broken.h5ad").write_bytes(b"not an HDF5 file")
    assert matrix_megabytes(tmp_path / "broken.h5ad") == 16e-6


@pytest.mark.workflow
def test_workflow_compares_a_held_out_donor_and_the_autoencoder_side_by_side(atlas_path, tmp_path):
    entry = {
        "h5ad": str(atlas_path),
        "label_key": "cell_type",
        "batch_key": "donor",
        "preprocess": {"min_genes": 50, "n_top_genes": 200, "n_pcs": 10},
        "graph": {"method": "approximate"},
        "models": ["gat"],
        "gnn": {"hidden": 16, "heads": 2, "max_epochs": 20, "patience": 5, "batch_size": 128, "fanout": 5},
    }
    config = {
        "cells": {
            "atlas": entry | {"preprocess": entry["preprocess"] | {"embedding": "autoencoder"}},
            # exact search: pynndescent compiles its kernels in every job that builds an approximate graph (~35 s)
            "atlas_new_donor": entry | {"split": {"method": "batch", "test": ["donor1"]}, "graph": {"method": "exact"}},
        }
    }
    result = snakemake(tmp_path, config, "results/cells/comparison.tsv")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/cells/comparison.tsv", sep="\t")
    assert list(table["dataset"]) == ["atlas", "atlas", "atlas_new_donor", "atlas_new_donor"]
    assert list(table["model"]) == ["gat", "logreg"] * 2
    assert list(table["embedding"]) == ["autoencoder"] * 2 + ["pca"] * 2
    assert list(table["split"]) == ["random"] * 2 + ["held-out donor: donor1"] * 2
    knn = table["knn"].str.extract(r"^(\w+) \(recall ([0-9.]+)\)$")
    assert list(knn[0]) == ["approximate"] * 2 + ["exact"] * 2
    assert (knn[1].astype(float) >= 0.95).all() and (table["accuracy_mean"] > 0.5).all()
    scib = ["nmi", "ari", "silhouette_label", "isolated_labels", "clisi", "silhouette_batch", "ilisi"]
    scib += ["graph_connectivity", "bio_conservation", "batch_correction", "total"]
    assert list(table.columns[-len(scib) :]) == scib and table[scib].notna().all().all()
    assert ((table[scib] >= -0.5) & (table[scib] <= 1)).all().all()  # ARI may dip below 0, the rest are in [0, 1]
    assert (table.groupby("dataset")[scib].nunique() == 1).all().all()  # one embedding's scores on every model row
    fit = pd.read_csv(tmp_path / "results/cells/atlas/embedding_fit.tsv", sep="\t")
    assert {"epoch", "train_loss", "val_loss"} <= set(fit.columns) and (
        tmp_path / "results/cells/atlas/embedding_fit.png"
    ).exists()
    cells = pd.read_csv(tmp_path / "results/cells/atlas_new_donor/cells.tsv", sep="\t")
    integration = pd.read_csv(tmp_path / "results/cells/atlas_new_donor/integration.tsv", sep="\t")
    assert integration["n_cells"].item() == len(cells) and integration["n_batches"].item() == 3
    assert set(cells.loc[cells["split"] == "test", "batch"]) == {"donor1"}
    assert "donor1" not in set(cells.loc[cells["split"] != "test", "batch"])


def test_preparation_asks_for_memory_and_time_in_proportion_to_the_matrix(atlas_path, tmp_path):
    entry = {"h5ad": str(atlas_path), "label_key": "cell_type"}
    result = snakemake(tmp_path, {"cells": {"atlas": entry}}, "-n", "results/cells/atlas/graph.pt")
    assert result.returncode == 0, result.stderr[-3000:]
    megabytes = matrix_megabytes(atlas_path)
    expected = f"runtime={math.ceil(15 + 0.004 * megabytes)}, mem_mb={math.ceil(1500 + 2 * megabytes)}"
    assert expected in result.stdout
    assert megabytes < 100 and "threads: 2" not in result.stdout  # a small matrix leaves the 2nd core to others
