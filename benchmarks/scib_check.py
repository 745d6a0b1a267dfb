"""Check dlbio's scIB metrics (``dlbio.evaluate.integration``) against scib-metrics on simulated cells.

scib-metrics needs jax, which the lock does not carry, so run this with a throwaway environment outside the
repository, from the repository root:

    python3 -m venv /tmp/scibvenv && /tmp/scibvenv/bin/pip install scib-metrics numpy scanpy
    PYTHONPATH=src /tmp/scibvenv/bin/python benchmarks/scib_check.py [--cells 3000]

Data: ``dlbio.data.simulate_cells.simulate_atlas`` (8 cell types in sibling pairs, 4 donors with a gene-wise
batch effect), normalised, log1p, 30 PCs. Embeddings: ``pca`` (the donors apart), ``pca_centred`` (each
donor's mean removed: a crude integration), ``shuffled`` (the PCs of randomly permuted cells: labels and
donors carry no structure) and ``mixture`` (a Gaussian blob per type, donors mixed: the ideal). scib-metrics is called metric by metric as its ``Benchmarker`` calls them
(pynndescent neighbours, 90 for LISI, 15 for graph connectivity; k-means NMI/ARI) on the same cells; its
totals are the means over the same eight metrics (its ``Benchmarker`` default batch set now has BRAS, kBET
and PCR comparison instead of the batch silhouette). Prints ours and scib-metrics' side by side per metric
and embedding, with the largest absolute difference.
"""

import argparse

import numpy as np
import pandas as pd
import scanpy as sc

from dlbio.data.simulate_cells import simulate_atlas
from dlbio.evaluate.integration import BATCH_CORRECTION, BIO_CONSERVATION, METRICS, scib_metrics


def reference_metrics(x, labels, batches):
    """The same metrics from scib-metrics (imported here: only this function needs jax)."""
    import scib_metrics as sm
    from scib_metrics.nearest_neighbors import pynndescent

    neighbors = pynndescent(x, n_neighbors=90, random_state=0)
    scores = sm.nmi_ari_cluster_labels_kmeans(x, labels)
    scores |= {
        "silhouette_label": sm.silhouette_label(x, labels),
        "isolated_labels": sm.isolated_labels(x, labels, batches),
        "clisi": sm.clisi_knn(neighbors, labels),
        "silhouette_batch": sm.silhouette_batch(x, labels, batches),
        "ilisi": sm.ilisi_knn(neighbors, batches),
        "graph_connectivity": sm.graph_connectivity(neighbors.subset_neighbors(15), labels),
    }
    scores = {name: float(value) for name, value in scores.items()}
    bio = np.mean([scores[name] for name in BIO_CONSERVATION])
    batch = np.mean([scores[name] for name in BATCH_CORRECTION])
    return scores | {"bio_conservation": bio, "batch_correction": batch, "total": 0.6 * bio + 0.4 * batch}


def embeddings(n_cells, seed):
    """Simulated cells' labels, donors and four embeddings of them."""
    adata = simulate_atlas(n_cells, seed=seed)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=30, random_state=seed)
    pca = adata.obsm["X_pca"].astype(np.float32)
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    donors = adata.obs["donor"].astype(str).to_numpy()
    centred = pca.copy()
    for donor in np.unique(donors):
        centred[donors == donor] -= centred[donors == donor].mean(0)
    rng = np.random.default_rng(seed)
    shuffled = pca[rng.permutation(n_cells)]
    codes = pd.Categorical(labels).codes
    mixture = (rng.normal(0, 4, (codes.max() + 1, 30))[codes] + rng.normal(0, 1, pca.shape)).astype(np.float32)
    return labels, donors, {"pca": pca, "pca_centred": centred, "shuffled": shuffled, "mixture": mixture}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    labels, donors, embedded = embeddings(args.cells, args.seed)
    rows = []
    for name, x in embedded.items():
        ours = scib_metrics(x, labels, donors, seed=args.seed)
        theirs = reference_metrics(x, labels, donors)
        rows += [
            {"embedding": name, "metric": metric, "dlbio": ours[metric], "scib_metrics": theirs[metric]}
            for metric in METRICS
        ]
    table = pd.DataFrame(rows)
    table["difference"] = table["dlbio"] - table["scib_metrics"]
    wide = table.pivot(index="metric", columns="embedding", values=["dlbio", "scib_metrics"]).loc[list(METRICS)]
    wide.columns = [f"{embedding} {source}" for source, embedding in wide.columns]
    wide = wide[[f"{e} {s}" for e in embedded for s in ("dlbio", "scib_metrics")]]
    wide["max |difference|"] = table.assign(d=table["difference"].abs()).groupby("metric")["d"].max()
    print(f"{args.cells} simulated cells, 8 types, 4 donors, 30 PCs (seed {args.seed})\n")
    print(wide.round(3).to_string())
    worst = table.loc[table["difference"].abs().idxmax()]
    print(f"\nlargest |difference|: {abs(worst['difference']):.3f} ({worst['metric']}, {worst['embedding']})")


if __name__ == "__main__":
    main()
