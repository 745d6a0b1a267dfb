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


def simulate_atlas(n_cells, n_genes=2000, n_types=8, n_donors=4, mean_count=0.3, seed=0):
    """An AnnData of ``n_cells`` raw counts (CSR float32) with ``obs['cell_type']`` and ``obs['donor']``.

    ``mean_count`` is the average expected count per gene (about ``1 - exp(-mean_count)`` of the
    matrix non-zero). Each type has ``n_genes // (2 n_types)`` marker genes at 5× the base level;
    each donor multiplies every gene by a log-normal factor (sd 0.3), a batch effect the markers outlast.
    """
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.6, mean_count / 0.6, n_genes)
    profiles = np.tile(base, (n_types, 1))
    block = n_genes // (2 * n_types)
    for t in range(n_types):
        profiles[t, t * block : (t + 1) * block] *= 5
    donor_effect = np.exp(rng.normal(0, 0.3, (n_donors, n_genes)))
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
