"""The prepared cell dataset's reference (.npz, no pickles): what :func:`dlbio.train.cell_embedding.preprocess` and
:func:`dlbio.data.cells.build_cell_graph` did, so that new cells get the same preprocessing and graph.

Kept apart from :mod:`dlbio.data.cells` so that reading one (e.g. a comparison table's kNN recall) needs numpy only.
"""

import zipfile

import numpy as np

from dlbio.errors import InputError

REFERENCE_FORMAT = 2  # version of the reference .npz; a file of another version is refused


def save_reference(reference, path):
    """Write a reference (a dict of arrays: :func:`preprocess` plus :func:`build_cell_graph`'s settings) as .npz."""
    with open(path, "wb") as handle:
        np.savez(handle, **reference)


REFERENCE_KEYS = (
    "format", "input", "genes", "target_sum", "features", "scale_mean", "scale_std", "scale_max", "embedding",
    "integration", "classes", "k", "metric", "bandwidth", "knn_method", "knn_recall",
)  # fmt: skip
EMBEDDING_KEYS = {
    "pca": ("pca_mean", "pca_components"),
    "autoencoder": ("ae_n_genes", "ae_hidden", "ae_latent"),
    "scvi": ("scvi_settings", "scvi_batches"),
    "scanvi": ("scvi_settings", "scvi_batches", "scvi_labels"),
}


def load_reference(path):
    """Read a reference written by :func:`save_reference` (no pickles); scalars come back as Python values."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            reference = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"'{path}' cannot be read as a cell reference .npz: {err}") from err
    required = REFERENCE_KEYS + EMBEDDING_KEYS.get(str(reference.get("embedding", "pca")), ())
    missing = [name for name in required if name not in reference]
    if missing:
        raise InputError(
            f"'{path}' is not a cell reference of format {REFERENCE_FORMAT}: it lacks {', '.join(missing)}"
        )
    if int(reference["format"]) != REFERENCE_FORMAT:
        raise InputError(
            f"'{path}' is a cell reference of format {int(reference['format'])}; this version reads format "
            f"{REFERENCE_FORMAT}: prepare the dataset again"
        )
    return {name: value.item() if value.ndim == 0 else value for name, value in reference.items()}
