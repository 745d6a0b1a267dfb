"""Loading, checking and preprocessing single-cell data."""

import numpy as np
import pytest
import scanpy as sc
import scipy.sparse as sp
import torch

from dlbio.data.cells import check_declared_input, load_cell_graph, load_cells, prepare_cell_dataset, preprocess
from dlbio.errors import InputError
from dlbio.io import save_tensors


def test_builtin_pbmc_loads_with_string_labels():
    adata = load_cells("scanpy:pbmc68k_reduced", "bulk_labels")
    assert adata.shape == (700, 765)
    assert adata.obs["bulk_labels"].nunique() == 10


def test_missing_file_names_the_key(tmp_path):
    with pytest.raises(InputError, match=r"config key 'cells.x.h5ad': file '.*nope.h5ad' does not exist"):
        load_cells(str(tmp_path / "nope.h5ad"), "cell_type", key="cells.x.h5ad")


def test_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="bad.h5ad.*not a readable .h5ad"):
        load_cells(str(bad), "cell_type")


def test_unknown_builtin_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown built-in dataset 'pbmc3k'.*pbmc68k_reduced"):
        load_cells("scanpy:pbmc3k", "bulk_labels")


def test_absent_label_column_lists_available_columns(counts_h5ad):
    with pytest.raises(InputError, match=r"label column 'celltype' not in .obs; available columns: cell_type"):
        load_cells(str(counts_h5ad), "celltype")


def write_modified(adata, path, change):
    adata = adata.copy()
    change(adata)
    adata.write_h5ad(path)
    return str(path)


def test_non_finite_values_are_counted(pbmc, tmp_path):
    path = write_modified(pbmc, tmp_path / "nan.h5ad", lambda a: a.X.__setitem__((slice(0, 3), 0), np.nan))
    with pytest.raises(InputError, match="nan.h5ad': the expression matrix holds 3 NaN/inf values"):
        load_cells(path, "bulk_labels")


def test_missing_labels_are_counted(pbmc, tmp_path):
    def drop(a):
        a.obs["bulk_labels"] = a.obs["bulk_labels"].astype(object)
        a.obs.iloc[:4, a.obs.columns.get_loc("bulk_labels")] = None

    path = write_modified(pbmc, tmp_path / "unlabelled.h5ad", drop)
    with pytest.raises(InputError, match="4 cells have no label in column 'bulk_labels'"):
        load_cells(path, "bulk_labels")


def test_counts_preprocessing_applies_qc_hvg_and_pca(counts_h5ad, preprocess_params):
    adata = load_cells(str(counts_h5ad), "cell_type")
    out = preprocess(adata, preprocess_params, 0)
    assert out.obsm["X_pca"].shape == (adata.n_obs, 20)
    assert out.n_vars == 200
    assert abs(out.X.mean()) < 1e-3


KEY = "cells.x.preprocess.input"


@pytest.fixture
def sparse_counts(counts_h5ad):
    """The simulated raw counts as a CSR matrix."""
    adata = load_cells(str(counts_h5ad), "cell_type")
    adata.X = sp.csr_matrix(adata.X)
    return adata


def log_normalised(adata):
    adata = adata.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata


def test_declared_input_that_fits_the_data_passes(pbmc, sparse_counts):
    check_declared_input(pbmc, "normalized", "pbmc")
    check_declared_input(sparse_counts, "counts", "counts.h5ad")
    check_declared_input(log_normalised(sparse_counts), "normalized", "lognorm.h5ad")


def test_counts_with_negative_values_suggest_normalized(pbmc):
    with pytest.raises(
        InputError, match=rf"'{KEY}' is 'counts' but 'pbmc' has negative values \(min -2.03\d*\).*use 'normalized'"
    ):
        check_declared_input(pbmc, "counts", "pbmc", key=KEY)


def test_counts_with_fractions_suggest_normalized(sparse_counts):
    with pytest.raises(InputError, match=rf"'{KEY}' is 'counts' but 'ln.h5ad' has non-integer values \(e.g. \d+\.\d+"):
        check_declared_input(log_normalised(sparse_counts), "counts", "ln.h5ad", key=KEY)


def test_raw_counts_declared_normalized_suggest_counts(sparse_counts):
    with pytest.raises(
        InputError, match=rf"'{KEY}' is 'normalized' but 'c.h5ad' looks like raw counts.*per cell is 1036.*'counts'"
    ):
        check_declared_input(sparse_counts, "normalized", "c.h5ad", key=KEY)


def test_big_sparse_data_are_checked_on_a_sample_of_cells():
    counts = sp.csr_matrix(np.random.default_rng(0).poisson(20, (25_000, 40)).astype(np.float32))
    adata = sc.AnnData(counts)
    check_declared_input(adata, "counts", "big.h5ad")
    with pytest.raises(InputError, match="'big.h5ad' looks like raw counts"):
        check_declared_input(adata, "normalized", "big.h5ad")


def test_qc_that_removes_every_cell_is_an_error(counts_h5ad, preprocess_params):
    adata = load_cells(str(counts_h5ad), "cell_type")
    with pytest.raises(InputError, match="QC removed every cell"):
        preprocess(adata, preprocess_params | {"min_genes": 100_000}, 0)


def test_too_many_pcs_is_an_error(counts_h5ad, preprocess_params):
    adata = load_cells(str(counts_h5ad), "cell_type")
    with pytest.raises(InputError, match=r"preprocess.n_pcs = 240 must be smaller"):
        preprocess(adata, preprocess_params | {"n_pcs": 240}, 0)


def dataset_config(h5ad, preprocess_params, **graph):
    return {
        "h5ad": h5ad,
        "label_key": "cell_type",
        "seed": 0,
        "preprocess": preprocess_params,
        "graph": {"k": 10, "metric": "euclidean", "symmetrize": "union"} | graph,
        "split": {"val": 0.2, "test": 0.2},
    }


def test_prepared_graph_round_trips_as_tensors(counts_h5ad, preprocess_params, tmp_path):
    tensors, cells = prepare_cell_dataset("sim", dataset_config(str(counts_h5ad), preprocess_params))
    save_tensors(tensors, tmp_path / "graph.pt")
    cells.to_csv(tmp_path / "cells.tsv", sep="\t", index=False)
    data, table, classes = load_cell_graph(tmp_path / "graph.pt", tmp_path / "cells.tsv")
    assert list(classes) == ["type0", "type1", "type2"]
    assert data.num_nodes == len(table) == 240
    assert torch.equal(data.y, torch.as_tensor(np.searchsorted(classes, table["label"])))
    assert torch.equal(data.test_mask, torch.as_tensor(table["split"].eq("test").to_numpy()))
    masks = data.train_mask.int() + data.val_mask.int() + data.test_mask.int()
    assert (masks == 1).all()


def test_prepare_errors_name_the_dataset(counts_h5ad, preprocess_params):
    with pytest.raises(InputError, match=r"dataset cells.sim: graph.k = 500"):
        prepare_cell_dataset("sim", dataset_config(str(counts_h5ad), preprocess_params, k=500))
    normalized = preprocess_params | {"input": "normalized"}
    with pytest.raises(
        InputError,
        match=r"dataset cells.sim: config key 'cells.sim.preprocess.input' is 'normalized' but '.*counts.h5ad' looks",
    ):
        prepare_cell_dataset("sim", dataset_config(str(counts_h5ad), normalized))
