"""A seeded raw-count atlas for scale tests and benchmarks: cell types, donors (batches), sparse counts.

Counts are negative-binomial around a per-type mean profile (a block of marker genes per type) scaled
by a per-cell library size and a per-donor gene-wise batch effect; they are generated in chunks straight
into a CSR matrix, so a million cells need only the memory of the result.
"""

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

CHUNK = 50_000  # cells generated at a time


def simulate_atlas(
    n_cells, n_genes=2000, n_types=8, n_donors=4, mean_count=0.3, markers=20, fold=2.0, donor_sd=0.6, seed=0
):
    """An AnnData of ``n_cells`` raw counts (CSR float32) with ``obs['cell_type']`` and ``obs['donor']``.

    ``mean_count`` is the average expected count per gene (about ``1 - exp(-mean_count)`` of the
    matrix non-zero). Types come in pairs: each pair has ``markers`` genes at 3× the base level, each type
    ``markers`` of its own at ``fold``× (siblings are told apart by a weak signal); each donor multiplies
    every gene by a log-normal factor (sd ``donor_sd``), a batch effect that competes with the weak markers.
    """
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.6, mean_count / 0.6, n_genes)
    profiles = np.tile(base, (n_types, 1))
    for t in range(n_types):
        pair = n_types + t // 2  # pair markers after the types' own
        profiles[t, pair * markers : (pair + 1) * markers] *= 3
        profiles[t, t * markers : (t + 1) * markers] *= fold
    donor_effect = np.exp(rng.normal(0, donor_sd, (n_donors, n_genes)))
    types = rng.integers(n_types, size=n_cells)
    donors = rng.integers(n_donors, size=n_cells)
    chunks = []
    for start in range(0, n_cells, CHUNK):
        t, d = types[start : start + CHUNK], donors[start : start + CHUNK]
        library = rng.lognormal(0, 0.3, len(t))[:, None]
        mu = profiles[t] * donor_effect[d] * library
        chunks.append(sp.csr_matrix(rng.negative_binomial(5, 5 / (5 + mu)).astype(np.float32)))
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical.from_codes(types, [f"type{t}" for t in range(n_types)]),
            "donor": pd.Categorical.from_codes(donors, [f"donor{d}" for d in range(n_donors)]),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)])
    return ad.AnnData(sp.vstack(chunks, format="csr"), obs=obs, var=var)
