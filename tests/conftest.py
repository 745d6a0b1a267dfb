"""Shared fixtures: small real and simulated single-cell data; the order of the test files. Shared helpers (the
repository root, Snakemake runs, tiny configs) live in helpers.py."""

import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch

from helpers import schema_defaults


if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs more pytest-xdist workers than cores: one thread each, here and in the processes the tests start
    # (two-thread torch ops beside another busy process spin-wait and slow down many times)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


# The workflow files that take longest (3-6 minutes each on 2 busy cores, 2026-12-07), in that order: taken first,
# so that no worker starts one of them while the others run out of work.
LONGEST_FIRST = (
    "test_workflow.py",
    "test_own_data.py",
    "test_cells_scale.py",
    "test_apply_workflow.py",
    "test_gan_workflow.py",
    "test_molecule_workflow.py",
    "test_molecule_intervals_workflow.py",
)


def pytest_collection_modifyitems(items):
    """Files in the order `make test`'s workers take them (``--dist loadfile --no-loadscope-reorder``): the real-SLURM
    file first (its worker mostly waits on the cluster), then the files that run workflows (the longest of them
    first), then the rest; within a file, tests keep their order."""
    rank = {}
    for item in items:
        tier = 0 if item.get_closest_marker("slurm") else 1 if item.get_closest_marker("workflow") else 2
        rank[item.path] = min(rank.get(item.path, 2), tier)
    order = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: (rank[item.path], order.get(item.path.name, len(order))))


def simulate_counts(n_per_type=80, n_genes=300, n_types=3, seed=0):
    """Negative-binomial counts with one block of marker genes per cell type (label: ``cell_type``)."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 1.0, n_genes)
    means = np.tile(base, (n_types, 1))
    block = n_genes // (2 * n_types)
    for t in range(n_types):
        means[t, t * block : (t + 1) * block] *= 6
    labels = np.repeat([f"type{t}" for t in range(n_types)], n_per_type)
    mu = means[np.searchsorted(np.unique(labels), labels)]
    counts = rng.negative_binomial(5, 5 / (5 + mu)).astype(np.float32)
    genes = [f"MT-{i}" if i < 5 else f"gene{i}" for i in range(n_genes)]
    obs = pd.DataFrame({"cell_type": labels}, index=[f"cell{i}" for i in range(len(labels))])
    return ad.AnnData(counts, obs=obs, var=pd.DataFrame(index=genes))


@pytest.fixture(scope="session")
def counts_h5ad(tmp_path_factory):
    path = tmp_path_factory.mktemp("h5ad") / "counts.h5ad"
    simulate_counts().write_h5ad(path)
    return path


@pytest.fixture(scope="session")
def pbmc():
    return sc.datasets.pbmc68k_reduced()


@pytest.fixture
def preprocess_params():
    """The schema's defaults for ``preprocess`` with QC thresholds and sizes fitted to the small simulation."""
    fitted = {
        "min_genes": 10,
        "max_pct_mt": 20,
        "n_top_genes": 200,
        "n_pcs": 20,
        "autoencoder": {"hidden": 64, "batch_size": 64, "max_epochs": 30, "patience": 5},
    }
    return schema_defaults("cells", h5ad="-", label_key="-", preprocess=fitted)["preprocess"]
