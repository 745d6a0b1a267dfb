"""Tile classifier on new image files (as training reads them, shape checks) and GAN tiles exported as files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from PIL import Image

from dlbio.apply.images import classify_images, export_generated, list_new_images
from dlbio.data.tiles import build_tile_store, list_images, read_image
from dlbio.errors import InputError
from dlbio.evaluate.calibration import ProbabilityCalibration
from dlbio.train.gan import GANTrainer, load_generator, sample_tiles
from dlbio.train.tile_classifier import (
    fit_tile_classifier,
    load_tile_classifier,
    predict_tiles,
    read_tile_classifier,
    save_tile_classifier,
)
from helpers import tiny_run

CPU = torch.device("cpu")
SIZE = (16, 32)
CLASSES = ["green", "red"]
READING = {"channels": [0, 1], "size": list(SIZE), "fit": "crop", "intensity": "dtype"}
PARAMS = {"width": 4, "epochs": 3, "batch_size": 16, "lr": 0.003, "weight_decay": 0.0}


def toy_tiles(n_per_class, seed):
    """uint8 (N, 2, H, W): class 0 ("green") bright in channel 1, class 1 ("red") bright in channel 0."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (2 * n_per_class, 2, *SIZE)).astype(np.uint8)
    labels = np.repeat([0, 1], n_per_class)
    images[labels == 0, 1] += 150
    images[labels == 1, 0] += 150
    return images, labels


def write_pngs(images, labels, folder):
    """Tiles as RGB PNGs with an empty blue channel in ``folder/<class>/``; their paths."""
    paths = []
    for i, (tile, label) in enumerate(zip(images, labels)):
        path = folder / CLASSES[label] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.moveaxis(np.concatenate([tile, np.zeros_like(tile[:1])]), 0, -1)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A classifier file, calibrated on validation tiles of its own."""
    images, labels = toy_tiles(20, seed=0)
    model = fit_tile_classifier(images, labels, 2, PARAMS, CPU, seed=0)
    val_images, val_labels = toy_tiles(10, seed=3)
    calibration = ProbabilityCalibration.fit(predict_tiles(model, val_images, CPU), val_labels)
    path = tmp_path_factory.mktemp("classifier") / "model.pt"
    save_tile_classifier(model, path, CLASSES, calibration)
    return path


@pytest.fixture(scope="module")
def new_tiles(tmp_path_factory):
    images, labels = toy_tiles(6, seed=1)
    folder = tmp_path_factory.mktemp("new")
    return images, labels, write_pngs(images, labels, folder), folder


def test_saved_classifier_loads_with_weights_only(classifier):
    saved = torch.load(classifier, weights_only=True)
    assert saved["format"] == "dlbio.tile_classifier" and saved["classes"] == CLASSES
    model, classes, (temperature, scores) = read_tile_classifier(classifier, CPU)
    assert classes == CLASSES and model.hyperparameters()["size"] == list(SIZE)
    assert temperature == saved["temperature"] > 0 and scores.shape == (20,) and np.all((scores >= 0) & (scores <= 1))


def test_folder_is_classified_as_the_model_sees_its_tiles(classifier, new_tiles):
    images, labels, paths, folder = new_tiles
    assert list_new_images(folder) == sorted(paths)
    table = classify_images(paths, classifier, READING, CPU, 0.9, batch_size=5, chunk_size=4, threads=2)
    model, _, saved = read_tile_classifier(classifier, CPU)
    calibration = ProbabilityCalibration(*saved)
    proba = calibration.probabilities(predict_tiles(model, images, CPU))
    assert table["path"].tolist() == paths
    assert table["class"].tolist() == [CLASSES[k] for k in proba.argmax(1)]
    np.testing.assert_allclose(table["confidence"], proba.max(1), rtol=1e-6)
    assert (table["class"] == np.array(CLASSES)[labels]).mean() >= 0.9
    members = calibration.sets(proba, 0.9)
    expected = ["|".join(np.array(CLASSES)[row]) for row in members]
    assert table["prediction_set"].tolist() == expected
    assert np.mean([CLASSES[y] in s.split("|") for y, s in zip(labels, table["prediction_set"])]) >= 0.9
    wide = classify_images(paths, classifier, READING, CPU, 0.999)  # more than the 20 validation tiles can give
    assert (wide["prediction_set"] == "green|red").all()


@pytest.mark.parametrize("level", [0, 1, 1.2])
def test_a_level_outside_zero_one_is_named(classifier, new_tiles, level):
    with pytest.raises(InputError, match=r"'images\.new\.set_level' = .* strictly between 0 and 1"):
        classify_images(new_tiles[2], classifier, READING, CPU, level, key_prefix="images.new.")


def test_manifest_and_minmax_read_as_in_training(classifier, new_tiles):
    _, _, paths, folder = new_tiles
    manifest = folder / "manifest.tsv"
    relative = [str(Path(p).relative_to(folder)) for p in paths]
    pd.DataFrame({"path": relative}).to_csv(manifest, sep="\t", index=False)
    assert list_new_images(manifest=manifest) == paths
    minmax = READING | {"intensity": "minmax"}
    table = classify_images(list_new_images(manifest=manifest), classifier, minmax, CPU, 0.9, chunk_size=5)
    store, _ = build_tile_store(list_images(folder, None), [0, 1], SIZE, "crop", "minmax", 0.5, seed=0)
    model, _, saved = read_tile_classifier(classifier, CPU)
    proba = ProbabilityCalibration(*saved).probabilities(predict_tiles(model, store["images"], CPU))
    order = np.argsort(store["paths"])
    np.testing.assert_allclose(table["confidence"], proba[order].max(1), rtol=1e-6)


def test_shapes_that_do_not_fit_the_model_are_named(classifier, new_tiles, tmp_path):
    _, _, paths, _ = new_tiles
    with pytest.raises(InputError, match=r"'images\.new\.channels' = \[0\] selects 1 channel\(s\) but .* trained on 2"):
        classify_images(paths, classifier, READING | {"channels": [0]}, CPU, 0.9, key_prefix="images.new.")
    with pytest.raises(InputError, match=r"'size' = \[32, 32\] but the tile classifier .* \[16, 32\]"):
        classify_images(paths, classifier, READING | {"size": [32, 32]}, CPU, 0.9)
    grey = tmp_path / "grey.png"
    Image.fromarray(np.zeros(SIZE, np.uint8)).save(grey)
    with pytest.raises(InputError, match=r"grey\.png' has 1 channel\(s\); channels \[0, 1\] need at least 2"):
        classify_images([str(grey)], classifier, READING, CPU, 0.9)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty' holds no .png/.tif/.tiff images"):
        list_new_images(tmp_path / "empty")
    (tmp_path / "m.tsv").write_text("file\na.png\n")
    with pytest.raises(InputError, match="m.tsv' lacks column 'path'"):
        list_new_images(manifest=tmp_path / "m.tsv")


def test_other_files_are_refused_by_name(classifier, tmp_path):
    model = load_tile_classifier(classifier, CPU)
    older = tmp_path / "older.pt"
    torch.save({"hyperparameters": model.hyperparameters(), "state_dict": model.state_dict()}, older)
    with pytest.raises(InputError, match="older.pt' has an older format"):
        read_tile_classifier(older, CPU)
    pickled = tmp_path / "pickled.pt"
    torch.save(model, pickled)
    with pytest.raises(InputError, match="pickled.pt' is not readable with weights_only=True"):
        read_tile_classifier(pickled, CPU)
    other = tmp_path / "molecule.pt"
    torch.save({"format": "dlbio.molecule_model", "state_dict": {}}, other)
    with pytest.raises(InputError, match="molecule.pt' is not a tile classifier"):
        read_tile_classifier(other, CPU)
    wider = tmp_path / "wider.pt"
    saved = torch.load(classifier, weights_only=True)
    saved["hyperparameters"]["width"] = 8
    torch.save(saved, wider)
    with pytest.raises(InputError, match="wider.pt': the weights do not fit its architecture"):
        read_tile_classifier(wider, CPU)


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory):
    """A star-shaped generator (one output per class) trained for two iterations."""
    folder = tmp_path_factory.mktemp("gan")
    images, labels = toy_tiles(8, seed=2)
    run = tiny_run(arch="dcgan-starshaped", checkpoint_every=2, max_snapshots=0)
    trainer = GANTrainer(run, images, labels, 2, CPU, folder / "checkpoint")
    trainer.train()
    torch.save(trainer.generator.state_dict(), folder / "generator.pt")
    return folder / "generator.pt", run


def test_exported_png_tiles_read_back_as_the_sampled_tiles(generator_file, tmp_path):
    path, run = generator_file
    generator = load_generator(path, run, 2, 2, SIZE, CPU)
    table = export_generated(generator, CLASSES, 5, tmp_path / "out", "png", seed=3, device=CPU, batch_size=2)
    assert table["path"].str.replace(str(tmp_path / "out"), "", regex=False).tolist() == [
        f"/{c}/{i:06d}.png" for c in CLASSES for i in range(5)
    ]
    store, _ = build_tile_store(list_images(tmp_path / "out", None), [0, 1], SIZE, "crop", "dtype", 0.4, seed=0)
    tiles, outputs = sample_tiles(generator, 5, seed=3, device=CPU, batch_size=2)
    np.testing.assert_array_equal(store["images"], tiles)
    assert store["classes"][store["labels"]].tolist() == [CLASSES[k] for k in outputs]


def test_exported_tiff16_tiles_keep_16_bits(generator_file, tmp_path):
    path, run = generator_file
    generator = load_generator(path, run, 2, 2, SIZE, CPU)
    table = export_generated(generator, CLASSES, 3, tmp_path, "tiff16", seed=3, device=CPU)
    assert table["path"].str.endswith(".tif").all() and len(table) == 6
    with torch.no_grad():
        x = generator(torch.randn(3, 8, generator=torch.Generator().manual_seed(3))).clamp(-1, 1).numpy()
    first = read_image(table["path"][0])
    assert first.dtype == np.uint16 and first.shape == (2, *SIZE)
    np.testing.assert_allclose(first / 65535 * 2 - 1, x[0, 0], atol=1.5 / 65535)
    assert tifffile.TiffFile(table["path"][0]).is_imagej
    with pytest.raises(InputError, match="'gan.tiny.export.format' = 'jpeg' must be one of png, tiff16"):
        export_generated(generator, CLASSES, 1, tmp_path, "jpeg", 0, CPU, key="gan.tiny.export.format")
    with pytest.raises(InputError, match="1 class names for a generator of 2 output"):
        export_generated(generator, ["all"], 1, tmp_path, "png", 0, CPU)
