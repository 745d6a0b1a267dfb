"""Fitting a cell dataset's embedding — the PCs or an autoencoder's bottleneck of its scaled expression, or the
latent space of scVI / scANVI trained on its raw counts — as part of preparing it (:func:`prepare_cell_dataset`),
and applying it to new cells (:func:`project_query`).

Sits above :mod:`dlbio.data.cells` (reading, QC, scaling, kNN graph, splits) because the embedding may train a
model (:mod:`dlbio.train.autoencoder`).
"""

import json
import logging

import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from dlbio.data.cell_reference import REFERENCE_FORMAT
from dlbio.data.cells import (
    SPLIT,
    assign_splits,
    build_cell_graph,
    check_batch_key,
    check_declared_input,
    integrate,
    load_cells,
    quality_control,
    scale_sparse_aware,
    select_genes,
)
from dlbio.errors import InputError
from dlbio.figures import plt
from dlbio.train.scvi_embedding import (
    ONE_BATCH,
    PREFIX,
    UNLABELLED,
    check_batches,
    fit_scvi,
    latent,
    map_query,
    scvi_arrays,
)
from dlbio.train.autoencoder import (
    autoencoder_arrays,
    autoencoder_from_arrays,
    encode,
    fit_autoencoder,
    plot_autoencoder_history,
)

LEARNED = ("scvi", "scanvi")  # embeddings learned by scvi-tools from raw counts, with the batch as covariate
QUERY_CHUNK = 16_384  # query cells scaled and projected at a time (bounds the dense memory)
log = logging.getLogger(__name__)


def embed_learned(adata, params, seed, device, batch_key=None, label_key=None):
    """scVI or scANVI (:func:`dlbio.train.scvi_embedding.fit_scvi`) on ``layers['counts']`` with ``.obs[batch_key]``
    as the batch; scANVI reads the labels of the training cells only (``.obs[SPLIT]``). Sets
    ``obsm['X_embedding']``; returns the model's reference arrays and its ELBO per epoch."""
    settings = params["scvi"]
    batches = np.full(adata.n_obs, ONE_BATCH) if batch_key is None else adata.obs[batch_key].astype(str).to_numpy()
    check_batches(batches, settings["batch_size"])
    labels = None
    if params["embedding"] == "scanvi":
        train = adata.obs[SPLIT].to_numpy() == "train"
        labels = np.where(train, adata.obs[label_key].astype(str).to_numpy(), UNLABELLED)
    model, history = fit_scvi(
        params["embedding"], adata.layers["counts"], adata.var_names, batches, labels, settings, seed, device
    )
    adata.obsm["X_embedding"] = latent(model)
    return scvi_arrays(model, params["embedding"], settings | {"batch_key": batch_key}), history


def check_learned(params, batch_key):
    """Fail before training if scVI/scANVI is asked for data that are not raw counts or with Harmony on top."""
    if params["embedding"] not in LEARNED:
        return
    if params["input"] != "counts":
        raise InputError(
            f"preprocess.embedding '{params['embedding']}' models raw counts, but preprocess.input is "
            f"'{params['input']}': give the raw counts (input: counts) or use embedding pca or autoencoder"
        )
    if params["integration"] != "none":
        raise InputError(
            f"preprocess.embedding '{params['embedding']}' corrects batch_key's batches itself; "
            f"preprocess.integration must be none, not '{params['integration']}'"
        )
    if batch_key is None:
        log.info("%s without a batch_key: every cell is one batch (no batch correction)", params["embedding"])


def embed(adata, params, seed, device):
    """The cells' embedding (``obsm['X_embedding']``, float32), its reference arrays and its fit: the PCs of the
    scaled matrix (``sc.pp.pca``'s covariance solver: sparse stays sparse, centring is implicit; fit: variance
    ratios), or the bottleneck of a denoising autoencoder trained on it, by default with the scaling undone inside
    the net (``preprocess.autoencoder.scale``; :func:`dlbio.train.autoencoder.fit_autoencoder`; fit: loss per
    epoch)."""
    n_dims = params["n_pcs"]
    if n_dims >= min(adata.n_obs, adata.n_vars):
        raise InputError(
            f"preprocess.n_pcs = {n_dims} must be smaller than the number of cells ({adata.n_obs}) "
            f"and genes ({adata.n_vars})"
        )
    if params["embedding"] == "autoencoder":
        settings = params["autoencoder"] | {"latent": n_dims}
        # the scaling's stds (set by scale_sparse_aware) undo it inside the net: it reads log-normalised genes
        gene_scale = adata.var["std"].to_numpy() if params["scale"] and not settings["scale"] else None
        model, history = fit_autoencoder(adata.X, settings, device, seed, gene_scale)
        adata.obsm["X_embedding"] = encode(model, adata.X, device)
        return autoencoder_arrays(model), history
    sc.pp.pca(adata, n_comps=n_dims, svd_solver="covariance_eigh", random_state=seed)
    adata.obsm["X_embedding"] = adata.obsm["X_pca"].astype(np.float32)
    arrays = {
        "pca_mean": np.asarray(adata.X.mean(axis=0), dtype=np.float32).ravel(),
        "pca_components": np.asarray(adata.varm["PCs"].T, dtype=np.float32),
    }
    history = pd.DataFrame(
        {"component": np.arange(1, n_dims + 1), "variance_ratio": adata.uns["pca"]["variance_ratio"]}
    )
    return arrays, history


def preprocess(adata, params, seed, batch_key=None, device="cpu", label_key=None, split=None):
    """QC/normalise (``input: counts``) or take normalised data, then HVGs (per batch with ``batch_key``), sparse-aware
    scaling (:func:`scale_sparse_aware`), the embedding (:func:`embed`; scVI / scANVI: :func:`embed_learned` on
    the raw counts, unscaled) and its optional integration. With ``split`` (config ``split``) each QC-passed cell's
    split is assigned first (:func:`dlbio.data.cells.assign_splits` on ``.obs[label_key]``) into ``.obs[SPLIT]``.

    ``adata`` is changed in place and returned (the embedding in ``obsm['X_embedding']``), with the reference —
    the input kind, the genes normalised over (``genes``), ``target_sum``, the genes the embedding reads
    (``features``: the HVGs), the scaling mean/std/clip and the embedding's arrays, which :func:`project_query`
    applies to new cells — and the embedding's history table (PCA: variance ratios; autoencoder: losses).
    The input should have passed :func:`check_declared_input`.
    """
    check_learned(params, batch_key)
    learned = params["embedding"] in LEARNED
    if params["input"] == "counts":
        quality_control(adata, params, keep_counts=learned)
    if split is not None:
        labels = adata.obs[label_key].to_numpy().astype(object)
        adata.obs[SPLIT] = pd.Categorical(assign_splits(labels, adata.obs, split, seed, batch_key))
    genes = np.asarray(adata.var_names, dtype=str)
    if params["n_top_genes"] and params["n_top_genes"] < adata.n_vars:
        sc.pp.highly_variable_genes(adata, n_top_genes=params["n_top_genes"], batch_key=batch_key, subset=True)
    adata.X = adata.X.astype(np.float32, copy=False)
    mean, std, clip = np.zeros(adata.n_vars), np.ones(adata.n_vars), np.inf
    if params["scale"] and not learned:
        mean, std, clip = scale_sparse_aware(adata, params["scale_max"])
    if learned:
        arrays, history = embed_learned(adata, params, seed, device, batch_key, label_key)
    else:
        arrays, history = embed(adata, params, seed, device)
    integrate(adata, params, batch_key, seed)
    log.info(
        "preprocessed: %d cells x %d genes -> %d-dimensional %s embedding",
        adata.n_obs, adata.n_vars, adata.obsm["X_embedding"].shape[1], params["embedding"],
    )  # fmt: skip
    reference = {
        "format": np.int64(REFERENCE_FORMAT),
        "input": np.str_(params["input"]),
        "genes": genes,
        "target_sum": np.float64(params["target_sum"]),
        "features": np.asarray(adata.var_names, dtype=str),
        "scale_mean": mean.astype(np.float32),
        "scale_std": std.astype(np.float32),
        "scale_max": np.float64(clip),
        "embedding": np.str_(params["embedding"]),
        "integration": np.str_(params["integration"]),
        **arrays,
    }
    return adata, reference, history


def plot_embedding_history(history, path, title):
    """The embedding's fit as an image: the autoencoder's loss curves, scVI's (then scANVI's) ELBO per epoch or the
    PCs' explained variance ratios."""
    if "epoch" in history and "stage" not in history:
        return plot_autoencoder_history(history, path, title)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if "stage" in history:
        ax.plot(history["epoch"], history["train_loss"], label="train")
        ax.plot(history["epoch"], history["val_loss"], label="validation")
        for epoch in history["epoch"][history["stage"].ne(history["stage"].shift()) & (history.index > 0)]:
            ax.axvline(epoch - 0.5, color="grey", linestyle=":", label="scANVI starts")
        ax.set(xlabel="epoch", ylabel="negative ELBO per cell", title=title)
        ax.legend()
    else:
        ax.bar(history["component"], history["variance_ratio"])
        ax.set(xlabel="principal component", ylabel="explained variance ratio", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def embedding_dims(reference):
    """Dimensions of the reference's embedding."""
    if reference["embedding"] in LEARNED:
        return int(json.loads(reference[f"{PREFIX}settings"])["n_latent"])
    return int(reference["ae_latent"]) if reference["embedding"] == "autoencoder" else len(reference["pca_components"])


def embedder(reference):
    """``z`` (cells × features, scaled as the reference) → the reference's embedding, as a function."""
    if reference["embedding"] == "autoencoder":
        model = autoencoder_from_arrays(reference)
        return lambda z: encode(model, z, "cpu")
    mean, components = reference["pca_mean"], reference["pca_components"].T
    return lambda z: (z - mean) @ components


def normalised_features(adata, reference, declared):
    """Cells' log-normalised expression of the reference's model genes (``features``; sparse stays sparse): raw
    ``counts`` (``declared``) normalised to the reference's ``target_sum`` over its genes and log1p-transformed, as
    the reference was; normalised values as they are. Genes the cells lack are zero."""
    x = select_genes(adata.X, pd.Index(adata.var_names), reference["genes"])
    if declared == "counts":
        counts = sc.AnnData(x.astype(np.float32))
        sc.pp.normalize_total(counts, target_sum=reference["target_sum"])
        sc.pp.log1p(counts)
        x = counts.X
    return select_genes(x, reference["genes"], reference["features"])


def project_query(adata, reference, min_shared_fraction, source, declared=None, key="query", surgery=None):
    """Query cells → the reference's embedding with the stored preprocessing (float32, cells × dimensions).

    The query's genes are matched by name to the reference's; missing ones are zero-filled and counted
    in the log. Fewer shared model genes (``features``) than ``min_shared_fraction`` is an error naming
    ``source``. ``declared`` (default: the reference's input) is the query's kind: raw ``counts`` are
    normalised to ``target_sum`` and log1p-transformed like the reference; query cells are not QC-filtered.
    A harmony-integrated reference cannot place new cells (their batch correction is not a fixed map): an error.
    An scVI / scANVI reference reads the query's raw counts and places them by surgery
    (:func:`dlbio.train.scvi_embedding.map_query`; ``surgery``: max_epochs, seed, device, train_decoder), the query's
    batches read from the reference's batch_key column, or, without that column, the whole query as one new batch
    named ``source``.
    """
    if reference["integration"] != "none":
        raise InputError(
            f"the reference was integrated with {reference['integration']} (preprocess.integration); its corrected "
            f"embedding is no fixed map for new cells such as '{source}': prepare it with integration: none "
            "to map queries"
        )
    declared = declared or reference["input"]
    features, genes = reference["features"], reference["genes"]
    query_genes = pd.Index(adata.var_names)
    shared = int(np.isin(features, query_genes).sum())
    if shared < min_shared_fraction * len(features):
        raise InputError(
            f"'{source}' shares {shared} of the reference's {len(features)} model genes ({shared / len(features):.1%}); "
            f"config key '{key}.min_shared_fraction' asks for at least {min_shared_fraction:.0%}"
        )
    log.info(
        "'%s': %d of %d reference genes (%d of %d model genes) missing, zero-filled",
        source, len(genes) - int(np.isin(genes, query_genes).sum()), len(genes), len(features) - shared, len(features),
    )  # fmt: skip
    if reference["embedding"] in LEARNED:
        return _map_learned(adata, reference, declared, source, key, surgery)
    x = normalised_features(adata, reference, declared)
    mean, std, clip = reference["scale_mean"], reference["scale_std"], reference["scale_max"]
    to_embedding = embedder(reference)
    chunks = []
    for start in range(0, adata.n_obs, QUERY_CHUNK):
        block = x[start : start + QUERY_CHUNK]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        z = np.clip(block / std, mean / std - clip, mean / std + clip)
        chunks.append(np.asarray(to_embedding(z), dtype=np.float32))
    return np.concatenate([np.empty((0, embedding_dims(reference)), dtype=np.float32), *chunks])


def _map_learned(adata, reference, declared, source, key, surgery):
    """Query raw counts on the reference's model genes → its scVI / scANVI latent space by surgery."""
    if declared != "counts":
        raise InputError(
            f"'{source}': the reference's {reference['embedding']} embedding reads raw counts, but config key "
            f"'{key}.input' is '{declared}'"
        )
    batch_key = json.loads(reference[f"{PREFIX}settings"])["batch_key"]
    if batch_key is not None and batch_key in adata.obs:
        batches = adata.obs[batch_key].astype(str).to_numpy()
    else:
        batches = np.full(adata.n_obs, source)
        log.info("'%s' has no batch column '%s': its cells are one new batch", source, batch_key)
    counts = select_genes(adata.X, pd.Index(adata.var_names), reference["features"])
    return map_query(
        reference, counts, batches, surgery["max_epochs"], surgery["seed"], surgery["device"], surgery["train_decoder"]
    )


def prepare_cell_dataset(name, cfg, device="cpu", threads=1):
    """Config entry ``cells.<name>`` → (graph tensors, per-cell table, reference, embedding history); errors name
    the entry. The reference (:mod:`dlbio.data.cell_reference`) holds what maps and links query cells to this graph."""
    try:
        adata = load_cells(cfg["h5ad"], cfg["label_key"], key=f"cells.{name}.h5ad")
        check_declared_input(adata, cfg["preprocess"]["input"], cfg["h5ad"], key=f"cells.{name}.preprocess.input")
        check_batch_key(adata, cfg["batch_key"], cfg["h5ad"])
        adata, reference, history = preprocess(
            adata, cfg["preprocess"], cfg["seed"], cfg["batch_key"], device, cfg["label_key"], cfg["split"]
        )
        tensors, cells, fitted = build_cell_graph(
            adata, cfg["label_key"], cfg["graph"], cfg["split"], cfg["seed"], cfg["batch_key"], threads, device
        )
        return tensors, cells, reference | fitted, history
    except InputError as err:
        raise InputError(f"dataset cells.{name}: {err}") from None
