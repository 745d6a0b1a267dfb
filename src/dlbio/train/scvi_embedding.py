"""scVI and scANVI (scvi-tools) as a cell dataset's embedding, and query cells placed in it by surgery (scArches).

scVI is trained on the raw counts of the highly variable genes with the batch as its covariate; scANVI starts from
it with the training cells' labels (every other cell unlabelled). The model is kept in the reference .npz as its
state dict and settings (scvi-tools' own save format unpickles on load) and rebuilt from them
(:func:`scvi_from_arrays`). A query is one or more new batches: :func:`map_query` adds them to a copy of the
reference model, trains only the new batches' parameters (``load_query_data``: the reference weights frozen) for
a bounded number of epochs, and returns the query cells' latent means.
"""

import json
import logging
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from dlbio.errors import InputError, too_few

PREFIX = "scvi_"  # keys of the model's arrays inside the reference .npz
BATCH, LABEL = "batch", "label"  # .obs columns of the AnnData handed to scvi-tools
UNLABELLED = "unlabelled"  # scANVI's unlabelled category (validation, test and unlabelled cells)
ONE_BATCH = "reference"  # batch of every cell when the dataset has no batch_key
ARCHITECTURE = ("n_hidden", "n_latent", "n_layers", "dropout_rate", "gene_likelihood", "encode_covariates",
                "use_layer_norm", "use_batch_norm")  # fmt: skip
log = logging.getLogger(__name__)


def _scvi():
    """scvi-tools, imported where used (its import takes seconds) and quiet: progress goes to the job's log."""
    import scvi

    scvi.settings.verbosity = logging.WARNING
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    return scvi


def _model_class(kind):
    models = _scvi().model
    return models.SCANVI if kind == "scanvi" else models.SCVI


def _anndata(counts, genes, batches, labels=None, batch_categories=None, label_categories=None):
    """The AnnData scvi-tools reads: raw counts (CSR float32), ``obs[BATCH]`` and, for scANVI, ``obs[LABEL]``."""
    x = sp.csr_matrix(counts, dtype=np.float32)
    obs = pd.DataFrame(
        {BATCH: pd.Categorical(np.asarray(batches, dtype=str), categories=batch_categories)},
        index=[str(i) for i in range(x.shape[0])],
    )
    if labels is not None:
        obs[LABEL] = pd.Categorical(np.asarray(labels, dtype=str), categories=label_categories)
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=np.asarray(genes, dtype=str)))


def _setup(kind, adata):
    """Register ``adata`` with scvi-tools' model class of ``kind``."""
    if kind == "scanvi":
        _model_class(kind).setup_anndata(adata, batch_key=BATCH, labels_key=LABEL, unlabeled_category=UNLABELLED)
    else:
        _model_class(kind).setup_anndata(adata, batch_key=BATCH)


def _train(model, max_epochs, settings, device):
    """scvi-tools' training with dlbio's settings: CPU or CUDA, early stopping on the validation ELBO."""
    model.train(
        max_epochs=max_epochs,
        accelerator="gpu" if torch.device(device).type == "cuda" else "cpu",
        devices=1,
        batch_size=settings["batch_size"],
        early_stopping=settings["early_stopping"],
        early_stopping_patience=settings["patience"],
        enable_progress_bar=False,
        check_val_every_n_epoch=1,
        plan_kwargs=settings.get("plan_kwargs"),
    )


def _history(model, stage):
    """A trained model's ELBO per epoch (train and validation) as a table."""
    history = model.history
    table = pd.DataFrame(
        {
            "train_loss": history["elbo_train"].iloc[:, 0].to_numpy(dtype=float),
            "val_loss": (
                history["elbo_validation"].iloc[:, 0].to_numpy(dtype=float)
                if "elbo_validation" in history
                else np.nan
            ),
        }
    )
    return table.assign(stage=stage)


def check_batches(batches, batch_size):
    """Fail if a batch has fewer cells than a mini-batch: scvi-tools would fit its parameters on too few cells."""
    counts = pd.Series(np.asarray(batches, dtype=str)).value_counts()
    listed = too_few(counts, batch_size)
    if listed:
        raise InputError(
            f"batches of batch_key with fewer cells than preprocess.scvi.batch_size = {batch_size}: {listed}; "
            "merge them with another batch or lower the batch size"
        )


def fit_scvi(kind, counts, genes, batches, labels, settings, seed, device):
    """Train scVI (``kind`` ``scvi``) or scVI then scANVI (``scanvi``, with ``labels``: the training cells' labels,
    ``UNLABELLED`` elsewhere) on raw ``counts`` (cells × ``genes``) with ``batches`` as the covariate.

    ``settings``: the architecture (``ARCHITECTURE``), batch_size, max_epochs and scanvi_max_epochs (``None``:
    scvi-tools' heuristics, which scale the epochs with the number of cells), early_stopping, patience. Returns the
    model (on CPU) and the ELBO per epoch (``stage`` scvi or scanvi).
    """
    scvi = _scvi()
    scvi.settings.seed = seed
    adata = _anndata(counts, genes, batches, labels if kind == "scanvi" else None)
    _setup("scvi", adata)
    model = scvi.model.SCVI(adata, **{key: settings[key] for key in ARCHITECTURE})
    _train(model, settings["max_epochs"], settings, device)
    history = [_history(model, "scvi")]
    if kind == "scanvi":
        model = scvi.model.SCANVI.from_scvi_model(model, unlabeled_category=UNLABELLED, labels_key=LABEL)
        _train(model, settings["scanvi_max_epochs"], settings, device)
        history.append(_history(model, "scanvi"))
    model.to_device("cpu")
    history = pd.concat(history, ignore_index=True)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    log.info("%s: %d epochs on %d cells x %d genes, %d batches", kind, len(history), *adata.shape,
             adata.obs[BATCH].nunique())  # fmt: skip
    return model, history


def latent(model, adata=None):
    """Latent means (float32, cells × n_latent) of ``adata`` (default: the model's own cells)."""
    return np.asarray(model.get_latent_representation(adata), dtype=np.float32)


def scvi_arrays(model, kind, settings):
    """The model as plain arrays for the reference .npz: its state dict, settings and category orders."""
    registry, keys = model.adata_manager, _scvi().REGISTRY_KEYS
    arrays = {
        f"{PREFIX}settings": np.str_(json.dumps({key: settings[key] for key in settings if key != "plan_kwargs"})),
        f"{PREFIX}batches": np.asarray(registry.get_state_registry(keys.BATCH_KEY).categorical_mapping, dtype=str),
    }
    if kind == "scanvi":
        arrays[f"{PREFIX}labels"] = np.asarray(registry.get_state_registry(keys.LABELS_KEY).categorical_mapping, dtype=str)
    state = {f"{PREFIX}state.{name}": value.cpu().numpy() for name, value in model.module.state_dict().items()}
    return arrays | state


def scvi_from_arrays(reference):
    """Rebuild the reference's scVI or scANVI model (on CPU, trained) from :func:`scvi_arrays`."""
    kind, settings = reference["embedding"], json.loads(reference[f"{PREFIX}settings"])
    batches = reference[f"{PREFIX}batches"]
    labels = reference.get(f"{PREFIX}labels")
    n = max(len(batches), 0 if labels is None else len(labels))
    adata = _anndata(
        np.ones((n, len(reference["features"]))),
        reference["features"],
        np.resize(batches, n),
        None if labels is None else np.resize(labels, n),
        batch_categories=batches,
        label_categories=labels,
    )
    with warnings.catch_warnings():  # one stand-in cell per category: scvi-tools warns of categories under 3 cells
        warnings.simplefilter("ignore", UserWarning)
        _setup(kind, adata)
        model = _model_class(kind)(adata, **{key: settings[key] for key in ARCHITECTURE})
    state = {
        name[len(PREFIX) + 6 :]: torch.from_numpy(np.asarray(value))
        for name, value in reference.items()
        if name.startswith(f"{PREFIX}state.")
    }
    model.module.load_state_dict(state)
    model.module.eval()
    model.is_trained_ = True
    return model


def surgery(reference, counts, batches, max_epochs, seed, device, train_decoder=True):
    """The reference's model extended to query cells (raw ``counts`` on the reference's ``features``; ``batches``:
    their batches, new ones added) by scArches surgery: scvi-tools' ``load_query_data`` on the rebuilt reference
    model (reference weights frozen), then at most ``max_epochs`` epochs on the query cells only (no weight decay,
    so the frozen weights stay as they are). With ``train_decoder`` the decoder's first layer trains too
    (``freeze_decoder_first_layer=False``): a new batch's gene-wise effect is then learned by the decoder instead
    of being pressed into the query's latent; the encoder, and so the reference cells' latent, stays as it was.
    Returns the query model (on CPU)."""
    scvi = _scvi()
    scvi.settings.seed = seed
    kind, settings = reference["embedding"], json.loads(reference[f"{PREFIX}settings"])
    model = scvi_from_arrays(reference)
    labels = None if kind == "scvi" else np.full(counts.shape[0], UNLABELLED)
    adata = _anndata(counts, reference["features"], batches, labels)
    query = _model_class(kind).load_query_data(
        adata, model, accelerator="cpu", freeze_decoder_first_layer=not train_decoder
    )
    new = sorted(set(np.asarray(batches, dtype=str)) - set(reference[f"{PREFIX}batches"]))
    log.info("surgery: %d query cells, new batches: %s; up to %d epochs", counts.shape[0], ", ".join(new) or "none",
             max_epochs)  # fmt: skip
    _train(query, max_epochs, settings | {"plan_kwargs": {"weight_decay": 0.0}}, device)
    query.to_device("cpu")
    return query


def map_query(reference, counts, batches, max_epochs, seed, device, train_decoder=True):
    """Latent means of query cells placed in the reference's latent space by :func:`surgery`."""
    return latent(surgery(reference, counts, batches, max_epochs, seed, device, train_decoder))
