"""Tile classifier: learns a separable toy problem, is deterministic for a seed, saves and loads exactly."""

import numpy as np
import pytest
import torch

from dlbio.errors import InputError
from dlbio.train.tile_classifier import (
    balanced_class_weights,
    fit_tile_classifier,
    load_tile_classifier,
    predict_tiles,
    save_tile_classifier,
    tile_features,
)
from helpers import TILE_CLASSIFIER as PARAMS
from helpers import toy_tiles

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trained():
    images, labels = toy_tiles(40, seed=0)
    return fit_tile_classifier(images, labels, 3, PARAMS, CPU, seed=0)


def test_learns_a_separable_problem(trained):
    images, labels = toy_tiles(20, seed=1)
    proba = predict_tiles(trained, images, CPU, batch_size=7)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    assert (proba.argmax(1) == labels).mean() >= 0.95
    features = tile_features(trained, images, CPU)
    assert features.shape == (60, 8 * PARAMS["width"])


def test_deterministic_for_a_seed():
    images, labels = toy_tiles(10, seed=0)
    first, again, other = (
        fit_tile_classifier(images, labels, 3, PARAMS | {"epochs": 2}, CPU, seed=seed) for seed in (0, 0, 1)
    )
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    assert not torch.equal(first.head.weight, other.head.weight)


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "classifier.pt"
    save_tile_classifier(trained, path)
    loaded = load_tile_classifier(path, CPU)
    images, _ = toy_tiles(10, seed=2)
    np.testing.assert_array_equal(predict_tiles(loaded, images, CPU), predict_tiles(trained, images, CPU))
    np.testing.assert_array_equal(tile_features(loaded, images, CPU), tile_features(trained, images, CPU))
    assert loaded.hyperparameters() == {"n_classes": 3, "channels": 2, "size": [16, 32], "width": 8}


def test_any_tile_size():
    images, labels = toy_tiles(4, seed=0, size=(48, 80))
    model = fit_tile_classifier(images, labels, 3, PARAMS | {"epochs": 1}, CPU, seed=0)
    assert predict_tiles(model, images, CPU).shape == (12, 3)


def test_class_weights_balance_an_imbalanced_set():
    weights = balanced_class_weights(np.array([0] * 8 + [1] * 2), 3)
    np.testing.assert_allclose(weights.numpy(), [10 / 16, 10 / 4, 0])
    assert float((weights[:2] * torch.tensor([8.0, 2.0])).std()) == 0  # each present class weighs the same in total


def test_bad_input_is_named():
    images, labels = toy_tiles(2, seed=0)
    with pytest.raises(InputError, match="uint8"):
        fit_tile_classifier(images.astype(np.float32), labels, 3, PARAMS, CPU, seed=0)
    with pytest.raises(InputError, match="labels in 0..1"):
        fit_tile_classifier(images, labels, 2, PARAMS, CPU, seed=0)
    with pytest.raises(InputError, match="does not exist"):
        load_tile_classifier("missing.pt", CPU)
