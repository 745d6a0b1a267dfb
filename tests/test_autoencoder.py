"""Cell autoencoder: training reduces reconstruction error, sparse = dense, determinism, .npz round trip."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from dlbio.errors import InputError
from dlbio.train.autoencoder import (
    autoencoder_arrays,
    autoencoder_from_arrays,
    encode,
    fit_autoencoder,
    plot_autoencoder_history,
)

SETTINGS = {
    "hidden": 32,
    "latent": 8,
    "noise": 0.1,
    "lr": 0.01,
    "weight_decay": 0.0,
    "batch_size": 64,
    "max_epochs": 40,
    "patience": 10,
    "val_fraction": 0.2,
}


@pytest.fixture(scope="module")
def cells():
    """600 cells × 100 genes: rank 5 plus noise, clipped at 0 (about half the values zero, like expression)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)) @ rng.normal(size=(5, 100)) + 0.1 * rng.normal(size=(600, 100))
    return np.maximum(x, 0).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(cells):
    return fit_autoencoder(cells, SETTINGS, "cpu", seed=0)


def test_training_reduces_reconstruction_error(cells, fitted):
    model, history = fitted
    assert list(history.columns) == ["epoch", "train_loss", "val_loss"]
    gene_mean_loss = float(((cells - cells.mean(0)) ** 2).mean())
    best = history["val_loss"].min()
    assert best < 0.5 * history["val_loss"].iloc[0]
    assert best < 0.5 * gene_mean_loss
    with torch.no_grad():
        recon = model(torch.from_numpy(cells)).numpy()
    assert ((recon - cells) ** 2).mean() < 0.5 * gene_mean_loss


def test_sparse_and_dense_input_give_the_same_embedding(cells, fitted):
    model, _ = fitted
    sparse_model, _ = fit_autoencoder(sp.csr_matrix(cells), SETTINGS, "cpu", seed=0)
    np.testing.assert_array_equal(encode(sparse_model, sp.csr_matrix(cells), "cpu"), encode(model, cells, "cpu"))


def test_training_is_deterministic_with_a_seed(cells, fitted):
    settings = {**SETTINGS, "max_epochs": 3}
    first, history = fit_autoencoder(cells, settings, "cpu", seed=1)
    second, again = fit_autoencoder(cells, settings, "cpu", seed=1)
    np.testing.assert_array_equal(encode(first, cells, "cpu"), encode(second, cells, "cpu"))
    np.testing.assert_array_equal(history.to_numpy(), again.to_numpy())


def test_encode_shape_and_dtype_in_chunks(cells, fitted):
    model, _ = fitted
    embedding = encode(model, sp.csr_matrix(cells), "cpu", chunk=7)
    assert embedding.shape == (600, SETTINGS["latent"]) and embedding.dtype == np.float32
    np.testing.assert_allclose(embedding, encode(model, cells, "cpu"), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="genes"):
        encode(model, cells[:, :50], "cpu")


def test_arrays_round_trip_through_npz(cells, fitted, tmp_path):
    model, _ = fitted
    np.savez(tmp_path / "ref.npz", pcs=np.ones((3, 2)), **autoencoder_arrays(model))
    with np.load(tmp_path / "ref.npz", allow_pickle=False) as saved:
        rebuilt = autoencoder_from_arrays(dict(saved))
    np.testing.assert_array_equal(encode(rebuilt, cells, "cpu"), encode(model, cells, "cpu"))


def test_bad_arrays_raise_input_error(fitted):
    arrays = autoencoder_arrays(fitted[0])
    with pytest.raises(InputError, match="ae_latent"):
        autoencoder_from_arrays({"pcs": np.ones(3)})
    with pytest.raises(InputError, match="ae_decoder_2_bias"):
        autoencoder_from_arrays({k: v for k, v in arrays.items() if k != "ae_decoder_2_bias"})
    with pytest.raises(InputError, match="do not fit"):
        autoencoder_from_arrays({**arrays, "ae_latent": np.int64(4)})


def test_bad_settings_raise_input_error(cells):
    with pytest.raises(InputError, match="noise"):
        fit_autoencoder(cells, {**SETTINGS, "noise": 1.0}, "cpu", seed=0)
    with pytest.raises(InputError, match="val_fraction"):
        fit_autoencoder(cells, {**SETTINGS, "val_fraction": 0.0}, "cpu", seed=0)


def test_history_plot_is_written(fitted, tmp_path):
    path = tmp_path / "history.png"
    plot_autoencoder_history(fitted[1], path, "autoencoder")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
