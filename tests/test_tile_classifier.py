"""Tile classifier: learns a separable toy problem, is deterministic for a seed, saves and loads exactly."""

import numpy as np
import pytest
import torch

from dlbio.errors import InputError
from dlbio.evaluate.calibration import ProbabilityCalibration
from dlbio.train.tile_classifier import (
    balanced_class_weights,
    fit_tile_classifier,
    hold_out_validation,
    load_tile_classifier,
    predict_tiles,
    read_tile_classifier,
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
    save_tile_classifier(trained, path, None, ProbabilityCalibration(1.7, np.array([0.25, 0.5])))
    _, classes, (temperature, scores) = read_tile_classifier(path, CPU)
    assert classes == ["0", "1", "2"] and temperature == 1.7 and scores.tolist() == [0.25, 0.5]
    loaded = load_tile_classifier(path, CPU)
    images, _ = toy_tiles(10, seed=2)
    np.testing.assert_array_equal(predict_tiles(loaded, images, CPU), predict_tiles(trained, images, CPU))
    np.testing.assert_array_equal(tile_features(loaded, images, CPU), tile_features(trained, images, CPU))
    assert loaded.hyperparameters() == {"n_classes": 3, "channels": 2, "size": [16, 32], "width": 8}


def test_any_tile_size():
    images, labels = toy_tiles(4, seed=0, size=(48, 80))
    model = fit_tile_classifier(images, labels, 3, PARAMS | {"epochs": 1}, CPU, seed=0)
    assert predict_tiles(model, images, CPU).shape == (12, 3)


def test_validation_tiles_are_held_out_of_training_per_class():
    labels = np.repeat([0, 1, 2], [30, 12, 6])
    split = np.where(np.arange(48) % 6 == 0, "test", "train")
    held = hold_out_validation(labels, split, 0.1, seed=0, key="evaluation.classifier.val_fraction")
    assert np.array_equal(held == "test", split == "test")  # the test tiles stay
    val = held == "val"
    assert val.sum() == 4 and set(labels[val]) == {0, 1, 2}  # 10% of 40 training tiles, every class
    assert np.array_equal(held, hold_out_validation(labels, split, 0.1, 0, "k"))
    assert not np.array_equal(held, hold_out_validation(labels, split, 0.1, 1, "k"))
    lonely = np.where(np.arange(48) == 47, "train", np.where(labels == 2, "test", split))
    with pytest.raises(InputError, match=r"'evaluation\.classifier\.val_fraction': classes '2' \(1\) have fewer"):
        hold_out_validation(labels, lonely, 0.1, 0, "evaluation.classifier.val_fraction")


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
