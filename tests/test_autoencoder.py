"""Cell autoencoder: training reduces reconstruction error, sparse = dense, determinism, .npz round trip, and the
gene scale that lets weak markers outweigh noise genes."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

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


@pytest.fixture(scope="module")
def markers():
    """1,000 cells of two types told apart by 20 weak markers (shift 0.6 sd) beside 400 low-variance noise genes,
    scaled to unit variance as the workflow scales them: there the noise genes weigh as much as the markers."""
    rng = np.random.default_rng(0)
    labels = rng.integers(2, size=1000)
    x = np.concatenate([labels[:, None] * 0.6 + rng.normal(size=(1000, 20)), 0.1 * rng.normal(size=(1000, 400))], 1)
    std = x.std(axis=0, ddof=1)
    return (x / std).astype(np.float32), std.astype(np.float32), labels


def accuracy(embedding, labels):
    return cross_val_score(LogisticRegression(), embedding, labels, cv=5).mean()


def test_gene_scale_lets_weak_markers_outweigh_scaled_noise(markers):
    scaled, std, labels = markers
    settings = {**SETTINGS, "latent": 4, "max_epochs": 30}
    plain, _ = fit_autoencoder(scaled, settings, "cpu", seed=0)
    undone, _ = fit_autoencoder(scaled, settings, "cpu", seed=0, gene_scale=std)
    np.testing.assert_array_equal(undone.gene_scale.numpy(), std)
    on_scaled = accuracy(encode(plain, scaled, "cpu"), labels)
    on_undone = accuracy(encode(undone, scaled, "cpu"), labels)
    assert on_undone > 0.85  # the markers alone tell the types apart at about 0.91
    assert on_undone > on_scaled + 0.1  # on unit-variance genes the bottleneck spends itself on noise


def test_gene_scale_is_training_on_the_rescaled_genes(markers):
    scaled, std, _ = markers
    settings = {**SETTINGS, "max_epochs": 2}
    inside, history = fit_autoencoder(scaled, settings, "cpu", seed=3, gene_scale=std)
    outside, again = fit_autoencoder(scaled * std, settings, "cpu", seed=3)
    embedding = encode(inside, scaled, "cpu")
    np.testing.assert_allclose(embedding, encode(outside, scaled * std, "cpu"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.to_numpy(), again.to_numpy(), rtol=1e-5)
    with torch.no_grad():
        recon = inside(torch.from_numpy(scaled[:5]))
    assert recon.shape == (5, scaled.shape[1])  # in log-normalised units: compared with scaled * std in the loss
    with pytest.raises(InputError, match="gene_scale"):
        fit_autoencoder(scaled, settings, "cpu", seed=0, gene_scale=std[:10])


def test_gene_scale_round_trips_and_older_arrays_read_their_input_as_given(markers, tmp_path):
    scaled, std, _ = markers
    model, _ = fit_autoencoder(scaled, {**SETTINGS, "max_epochs": 1}, "cpu", seed=0, gene_scale=std)
    arrays = autoencoder_arrays(model)
    np.savez(tmp_path / "ref.npz", **arrays)
    with np.load(tmp_path / "ref.npz", allow_pickle=False) as saved:
        rebuilt = autoencoder_from_arrays(dict(saved))
    np.testing.assert_array_equal(encode(rebuilt, scaled, "cpu"), encode(model, scaled, "cpu"))
    older = autoencoder_from_arrays({k: v for k, v in arrays.items() if k != "ae_gene_scale"})  # format-2 files
    np.testing.assert_array_equal(older.gene_scale.numpy(), np.ones(scaled.shape[1], dtype=np.float32))
    np.testing.assert_allclose(encode(older, scaled * std, "cpu"), encode(model, scaled, "cpu"), rtol=1e-5, atol=1e-5)
