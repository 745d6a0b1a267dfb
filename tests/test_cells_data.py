"""Loading, checking and preprocessing single-cell data."""

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import torch

from dlbio.data.cell_reference import REFERENCE_FORMAT, load_reference, save_reference
from dlbio.data.cells import (
    UNLABELED,
    build_cell_graph,
    check_declared_input,
    load_cell_graph,
    load_cells,
    replicate_split,
)
from dlbio.errors import InputError
from dlbio.io import save_tensors
from dlbio.train.cell_embedding import prepare_cell_dataset, preprocess, project_query


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


def drop_labels(n):
    def drop(a):
        a.obs["bulk_labels"] = a.obs["bulk_labels"].astype(object)
        a.obs.iloc[:n, a.obs.columns.get_loc("bulk_labels")] = None
        a.obs.iloc[n : n + 2, a.obs.columns.get_loc("bulk_labels")] = ""

    return drop


def test_missing_labels_are_kept_as_unlabeled(pbmc, tmp_path, caplog):
    path = write_modified(pbmc, tmp_path / "unlabelled.h5ad", drop_labels(4))
    with caplog.at_level("INFO"):
        adata = load_cells(path, "bulk_labels")
    assert "6 cells have no label in column 'bulk_labels'" in caplog.text
    assert list(adata.obs["bulk_labels"][:7]) == [UNLABELED] * 6 + [pbmc.obs["bulk_labels"].iloc[6]]


def test_no_label_at_all_is_an_error(pbmc, tmp_path):
    path = write_modified(pbmc, tmp_path / "none.h5ad", drop_labels(len(pbmc) - 2))
    with pytest.raises(InputError, match="none.h5ad': no cell has a label in column 'bulk_labels'"):
        load_cells(path, "bulk_labels")


def test_unlabeled_cells_are_graph_nodes_outside_every_split(pbmc, tmp_path):
    path = write_modified(pbmc, tmp_path / "unlabelled.h5ad", drop_labels(30))
    cfg = {
        "h5ad": path,
        "label_key": "bulk_labels",
        "batch_key": None,
        "seed": 0,
        "preprocess": {"input": "normalized", "embedding": "pca", "integration": "none", "n_top_genes": None, "scale": False, "scale_max": None, "n_pcs": 20,
                       "target_sum": 1e4},
        "graph": {"k": 10, "metric": "euclidean", "symmetrize": "union", "method": "exact"},
        "split": {"val": 0.2, "test": 0.2},
    }  # fmt: skip
    tensors, cells, reference, _ = prepare_cell_dataset("sim", cfg)
    unlabeled = (cells["split"] == "unlabeled").to_numpy()
    assert unlabeled.sum() == 32 and (cells["label"][unlabeled] == UNLABELED).all()
    assert (tensors["y"][unlabeled] == -1).all() and (tensors["y"][~unlabeled] >= 0).all()
    masks = sum(tensors[f"{s}_mask"].int() for s in ("train", "val", "test"))
    assert torch.equal(masks, torch.from_numpy(~unlabeled).int())
    assert len(reference["classes"]) == 10 and UNLABELED not in reference["classes"]
    save_tensors(tensors, tmp_path / "graph.pt")
    cells.to_csv(tmp_path / "cells.tsv", sep="\t", index=False)
    _, table, classes = load_cell_graph(tmp_path / "graph.pt", tmp_path / "cells.tsv")
    assert list(classes) == list(reference["classes"]) and (table["label"][unlabeled] == UNLABELED).all()


def test_label_na_is_a_label_not_a_missing_one(tmp_path):
    cells = pd.DataFrame(
        {"cell": ["a", "b", "c"], "label": ["NA", "None", ""], "split": ["train", "test", "unlabeled"]}
    )
    cells.to_csv(tmp_path / "cells.tsv", sep="\t", index=False)
    save_tensors({"x": torch.zeros(3, 2)}, tmp_path / "graph.pt")
    _, table, classes = load_cell_graph(tmp_path / "graph.pt", tmp_path / "cells.tsv")
    assert list(table["label"]) == ["NA", "None", ""] and list(classes) == ["NA", "None"]


def test_counts_preprocessing_applies_qc_hvg_and_pca(counts_h5ad, preprocess_params):
    adata = load_cells(str(counts_h5ad), "cell_type")
    n_obs = adata.n_obs
    out, _, history = preprocess(adata, preprocess_params, 0)
    assert out.obsm["X_embedding"].shape == (n_obs, 20) and out.obsm["X_embedding"].dtype == np.float32
    assert out.n_vars == 200
    assert np.allclose(np.asarray(out.X).std(axis=0, ddof=1), 1, atol=0.05)  # unit variance, not centred
    assert len(history) == 20 and history["variance_ratio"].is_monotonic_decreasing


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
        "batch_key": None,
        "seed": 0,
        "preprocess": preprocess_params,
        "graph": {"k": 10, "metric": "euclidean", "symmetrize": "union", "method": "exact"} | graph,
        "split": {"val": 0.2, "test": 0.2},
    }


def test_prepared_graph_round_trips_as_tensors(counts_h5ad, preprocess_params, tmp_path):
    tensors, cells, _, _ = prepare_cell_dataset("sim", dataset_config(str(counts_h5ad), preprocess_params))
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


def donor_graph(adata, split, label_key="cell_type"):
    """Graph of a preprocessed AnnData with the given split settings."""
    return build_cell_graph(adata, label_key, {"k": 10, "metric": "euclidean", "symmetrize": "union", "method": "exact"}, split, 0)


@pytest.fixture
def donors(counts_h5ad, preprocess_params):
    """The simulation preprocessed, its cells spread over donors d0..d3 (``obs['donor']``)."""
    adata, _, _ = preprocess(load_cells(str(counts_h5ad), "cell_type"), preprocess_params, 0)
    adata.obs["donor"] = [f"d{i % 4}" for i in range(adata.n_obs)]
    return adata


def test_cells_are_held_out_by_an_obs_column(donors):
    _, cells, _ = donor_graph(donors, {"method": "obs", "column": "donor", "test": ["d1", "d3"], "val": 0.25})
    test = cells["split"].eq("test").to_numpy()
    assert np.array_equal(test, donors.obs["donor"].isin(["d1", "d3"]).to_numpy())
    rest = cells[~test]
    assert rest["split"].eq("val").mean() == pytest.approx(0.25, abs=0.02)
    shares = rest[rest["split"] == "val"]["label"].value_counts(normalize=True)
    assert shares.to_numpy() == pytest.approx(np.full(3, 1 / 3), abs=0.03)


def test_obs_split_errors_name_the_key(donors):
    with pytest.raises(InputError, match=r"split.column 'patient' is not in .obs; available columns: .*donor"):
        donor_graph(donors, {"method": "obs", "column": "patient", "test": ["d1"], "val": 0.2})
    with pytest.raises(InputError, match=r"split.test: 'd9' not found in .obs column 'donor'; its values: d0, d1"):
        donor_graph(donors, {"method": "obs", "column": "donor", "test": ["d1", "d9"], "val": 0.2})
    donors.obs["donor"] = np.where(donors.obs["cell_type"] == "type2", "d0", donors.obs["donor"])
    with pytest.raises(InputError, match=r"holds out donor \['d0'\]: classes left with too few cells .*'type2' \(0\)"):
        donor_graph(donors, {"method": "obs", "column": "donor", "test": ["d0"], "val": 0.2})


@pytest.fixture
def reference_counts(counts_h5ad, preprocess_params):
    """The simulated counts, their prepared graph tensors and reference."""
    adata = load_cells(str(counts_h5ad), "cell_type")
    tensors, _, reference, _ = prepare_cell_dataset("sim", dataset_config(str(counts_h5ad), preprocess_params))
    return adata, tensors, reference


def test_reference_round_trips_without_pickles(reference_counts, tmp_path):
    _, _, reference = reference_counts
    save_reference(reference, tmp_path / "reference.npz")
    loaded = load_reference(tmp_path / "reference.npz")
    assert loaded.keys() == reference.keys()
    for name, value in reference.items():
        assert np.array_equal(loaded[name], value), name
    assert loaded["input"] == "counts" and loaded["k"] == 10 and loaded["pca_components"].shape == (20, 200)
    assert list(loaded["classes"]) == ["type0", "type1", "type2"] and set(loaded["features"]) <= set(loaded["genes"])


def test_reference_of_another_format_or_kind_is_refused(reference_counts, tmp_path):
    _, _, reference = reference_counts
    save_reference(reference | {"format": np.int64(REFERENCE_FORMAT + 1)}, tmp_path / "new.npz")
    with pytest.raises(InputError, match=rf"new.npz' is a cell reference of format {REFERENCE_FORMAT + 1}"):
        load_reference(tmp_path / "new.npz")
    save_reference({k: v for k, v in reference.items() if k != "bandwidth"}, tmp_path / "old.npz")
    with pytest.raises(InputError, match=rf"old.npz' is not a cell reference of format {REFERENCE_FORMAT}: it lacks bandwidth"):
        load_reference(tmp_path / "old.npz")
    (tmp_path / "text.npz").write_text("not an npz")
    with pytest.raises(InputError, match="text.npz' cannot be read as a cell reference .npz"):
        load_reference(tmp_path / "text.npz")


@pytest.mark.parametrize("sparse", [False, True])
def test_projection_reproduces_the_reference_pcs(reference_counts, sparse):
    adata, tensors, reference = reference_counts
    if sparse:
        adata = adata.copy()
        adata.X = sp.csr_matrix(adata.X)
    pcs = project_query(adata, reference, 0.5, "ref.h5ad")
    assert pcs.shape == (240, 20) and pcs.dtype == np.float32
    assert np.allclose(pcs, tensors["x"].numpy(), atol=1e-3)


def test_query_genes_are_matched_by_name_and_missing_ones_zero_filled(reference_counts, caplog):
    adata, tensors, reference = reference_counts
    shuffled = adata[:, np.random.default_rng(0).permutation(adata.n_vars)].copy()
    assert np.allclose(project_query(shuffled, reference, 0.5, "q.h5ad"), tensors["x"].numpy(), atol=1e-3)
    dropped = reference["features"][:30]
    partial = adata[:, ~adata.var_names.isin(dropped)].copy()
    with caplog.at_level("INFO"):
        pcs = project_query(partial, reference, 0.8, "q.h5ad")
    assert "'q.h5ad': 30 of 300 reference genes (30 of 200 model genes) missing, zero-filled" in caplog.text
    zero_filled = adata.copy()
    zero_filled.X[:, adata.var_names.isin(dropped)] = 0
    assert np.allclose(pcs, project_query(zero_filled, reference, 0.8, "z.h5ad"), atol=1e-4)


def test_too_few_shared_genes_names_the_file_and_count(reference_counts):
    adata, _, reference = reference_counts
    few = adata[:, adata.var_names.isin(reference["features"][:50])].copy()
    with pytest.raises(
        InputError,
        match=r"'few.h5ad' shares 50 of the reference's 200 model genes \(25.0%\); "
        r"config key 'cells.sim.query.min_shared_fraction' asks for at least 50%",
    ):
        project_query(few, reference, 0.5, "few.h5ad", key="cells.sim.query")


def test_normalised_query_of_a_counts_reference_skips_normalisation(reference_counts):
    adata, tensors, reference = reference_counts
    normalised = adata[:, reference["genes"]].copy()
    sc.pp.normalize_total(normalised, target_sum=1e4)
    sc.pp.log1p(normalised)
    pcs = project_query(normalised, reference, 0.5, "ln.h5ad", declared="normalized")
    assert np.allclose(pcs, tensors["x"].numpy(), atol=1e-3)


def test_a_replicate_with_resplit_draws_its_own_split_and_keeps_held_out_donors(donors, tmp_path):
    split = {"method": "obs", "column": "donor", "test": ["d1"], "val": 0.25}
    tensors, cells, _ = donor_graph(donors, split)
    save_tensors(tensors, tmp_path / "graph.pt")
    cells.to_csv(tmp_path / "cells.tsv", sep="\t", index=False)
    prepared = load_cell_graph(tmp_path / "graph.pt", tmp_path / "cells.tsv")
    same = replicate_split(*prepared, {"index": 0, "seed": 0, "split": None})
    assert same[1]["split"].equals(cells["split"])
    data, drawn, _ = replicate_split(*load_cell_graph(tmp_path / "graph.pt", tmp_path / "cells.tsv"),
                                     {"index": 1, "seed": 1, "split": split})  # fmt: skip
    assert drawn["split"].eq("test").equals(cells["split"].eq("test"))  # the held-out donor stays out
    assert not drawn["split"].equals(cells["split"])  # validation drawn anew
    assert torch.equal(data.val_mask, torch.as_tensor(drawn["split"].eq("val").to_numpy()))
    plain, again, _ = replicate_split(*load_cell_graph(tmp_path / "graph.pt", tmp_path / "cells.tsv", pyg=False),
                                      {"index": 1, "seed": 1, "split": split})  # fmt: skip
    assert again["split"].equals(drawn["split"])  # without torch_geometric: the same tensors and split
    assert all(torch.equal(tensor, data[key]) for key, tensor in vars(plain).items())
