"""The tile classifier applied to new images, and a GAN's tiles exported as image files.

New images are read as the classifier's training tiles were (:func:`dlbio.data.tiles.load_fitted`: the
dataset entry's ``channels``, ``size``, ``fit`` and ``intensity``), ``chunk_size`` at a time, by a pool of
threads. ``intensity: minmax`` takes the per-channel range of the new images (a first pass over them).

Exported tiles follow the class-folder layout dlbio reads (``<folder>/<Class>/NNNNNN.png``, numbered from 0
per class): 8-bit PNG (1 channel grey, 2 channels red/green with an empty blue as in LIN, 3 RGB, 4 RGBA) or
16-bit TIFF (any channel count, an ImageJ ``CYX`` stack) with the generator's [-1, 1] mapped to 0..65535.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import torch
from PIL import Image

from dlbio.data.tiles import IMAGE_SUFFIXES, load_fitted, reading_threads, to_uint8
from dlbio.errors import InputError
from dlbio.train.tile_classifier import predict_tiles, read_tile_classifier

EXPORT_FORMATS = ("png", "tiff16")
PNG_CHANNELS = (1, 2, 3, 4)  # grey, red/green (RGB with an empty blue), RGB, RGBA


def list_new_images(folder=None, manifest=None):
    """Images to classify: every .png/.tif/.tiff under ``folder`` (any depth, sorted) or a manifest's ``path``s.

    A manifest is a TSV with a column ``path``; relative paths are relative to its folder.
    """
    if (folder is None) == (manifest is None):
        raise InputError("give exactly one of an image folder or a manifest")
    if folder is not None:
        if not Path(folder).is_dir():
            raise InputError(f"image folder '{folder}' does not exist")
        paths = sorted(str(p) for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise InputError(f"image folder '{folder}' holds no {'/'.join(IMAGE_SUFFIXES)} images")
        return paths
    if not Path(manifest).is_file():
        raise InputError(f"manifest '{manifest}' does not exist")
    try:
        table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"manifest '{manifest}' is not a readable TSV file: {err}") from None
    if "path" not in table.columns:
        raise InputError(f"manifest '{manifest}' lacks column 'path'; it has: {', '.join(map(str, table.columns))}")
    if table.empty:
        raise InputError(f"manifest '{manifest}' lists no images")
    paths = [p if Path(p).is_absolute() else str(Path(manifest).parent / p) for p in table["path"]]
    for row, (given, path) in enumerate(zip(table["path"], paths), start=1):
        if not given or not Path(path).is_file():
            raise InputError(f"manifest '{manifest}' row {row}: image '{given}' does not exist (looked for '{path}')")
    return paths


def _check_reading(model, reading, classifier, key_prefix):
    """Fail unless the entry's ``channels`` and ``size`` give tiles of the classifier's shape."""
    channels, size = list(reading["channels"]), [int(s) for s in reading["size"]]
    if len(channels) != model.channels:
        raise InputError(
            f"config key '{key_prefix}channels' = {channels} selects {len(channels)} channel(s) but the tile "
            f"classifier '{classifier}' was trained on {model.channels}"
        )
    if tuple(size) != tuple(model.size):
        raise InputError(
            f"config key '{key_prefix}size' = {size} but the tile classifier '{classifier}' was trained on "
            f"{list(model.size)} tiles"
        )
    return channels, tuple(size)


def classify_images(
    paths, classifier, reading, device, level, batch_size=256, chunk_size=1024, threads=None, key_prefix=""
):
    """Class, calibrated confidence and conformal prediction set of every image: a table ``path``, ``class``,
    ``confidence`` (the class's probability after the classifier's temperature), ``prediction_set`` (the class and
    every other class whose probability passes the LAC threshold at ``level``, joined by ``|``:
    :class:`~dlbio.evaluate.calibration.ProbabilityCalibration`).

    ``classifier``: a file of :func:`~dlbio.train.tile_classifier.save_tile_classifier`; ``reading``: the
    images entry it was trained on (``channels``, ``size``, ``fit``, ``intensity``; ``key_prefix``, e.g.
    ``images.lin.``, starts its config keys in errors, as ``set_level`` of ``level``).
    """
    from dlbio.evaluate.calibration import ProbabilityCalibration, set_labels  # local: torchmetrics costs ~3 s
    from dlbio.evaluate.conformal import check_level

    check_level(level, f"{key_prefix}set_level")
    model, classes, (temperature, scores) = read_tile_classifier(classifier, device)
    calibration = ProbabilityCalibration(temperature, scores)
    channels, size = _check_reading(model, reading, classifier, key_prefix)
    fit, intensity = reading["fit"], reading["intensity"]
    key = f"{key_prefix}intensity"

    def load(path):
        return load_fitted(path, channels, size, fit, intensity, key)[0]

    chunks = [paths[i : i + chunk_size] for i in range(0, len(paths), chunk_size)]
    with ThreadPoolExecutor(max_workers=threads or reading_threads()) as pool:
        if intensity == "minmax":  # the new images' range per channel
            ranges = [(np.nanmin(t, axis=(1, 2)), np.nanmax(t, axis=(1, 2))) for t in pool.map(load, paths)]
            lo = np.min([r[0] for r in ranges], axis=0)[:, None, None]
            hi = np.max([r[1] for r in ranges], axis=0)[:, None, None]
        proba = []
        for chunk in chunks:
            tiles = np.stack(list(pool.map(load, chunk)))
            if intensity == "minmax":
                tiles = to_uint8(tiles, lo, hi)
            proba.append(predict_tiles(model, tiles, device, batch_size))
    proba = calibration.probabilities(np.concatenate(proba) if proba else np.zeros((0, len(classes))))
    return pd.DataFrame(
        {
            "path": list(paths),
            "class": np.asarray(classes)[proba.argmax(1)],
            "confidence": proba.max(1),
            "prediction_set": set_labels(calibration.sets(proba, level), classes),
        }
    )


def _write_png(tile, path):
    """uint8 ``(C, H, W)`` as a PNG (2 channels: red and green of an RGB image)."""
    if tile.shape[0] == 2:
        tile = np.concatenate([tile, np.zeros_like(tile[:1])])
    pixels = tile[0] if tile.shape[0] == 1 else np.moveaxis(tile, 0, -1)
    Image.fromarray(pixels).save(path)


def export_generated(generator, classes, n, folder, image_format, seed, device, batch_size=256, key="format"):
    """Write ``n`` tiles per generator output as ``<folder>/<class>/NNNNNN.png`` (or ``.tif``); their table.

    ``classes`` names the generator's outputs (folder names); the noise is that of
    :func:`~dlbio.train.gan.sample_tiles` for ``seed`` and ``batch_size``, so the PNG tiles equal its tiles.
    ``image_format``: ``png`` or ``tiff16`` (named by the config key ``key`` in errors). Returns ``path``,
    ``label`` per file.
    """
    if image_format not in EXPORT_FORMATS:
        raise InputError(f"config key '{key}' = '{image_format}' must be one of {', '.join(EXPORT_FORMATS)}")
    if len(classes) != generator.n_outputs:
        raise InputError(f"{len(classes)} class names for a generator of {generator.n_outputs} output(s)")
    rng = torch.Generator().manual_seed(seed)
    folders = [Path(folder) / str(c) for c in classes]
    for f in folders:
        f.mkdir(parents=True, exist_ok=True)
    suffix = ".png" if image_format == "png" else ".tif"
    rows = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), generator.nz, generator=rng).to(device)
        with torch.no_grad():
            x = generator(z).float().cpu().clamp(-1, 1)  # (b, K, C, H, W)
        if image_format == "png" and x.shape[2] not in PNG_CHANNELS:
            raise InputError(
                f"config key '{key}' = 'png' holds 1 to 4 channels; the generator draws {x.shape[2]}: use 'tiff16'"
            )
        for j, sample in enumerate(x, start=start):
            for k, tile in enumerate(sample):
                path = folders[k] / f"{j:06d}{suffix}"
                if image_format == "png":
                    _write_png(((tile + 1) * 127.5).round().to(torch.uint8).numpy(), path)
                else:
                    tiff = ((tile.double() + 1) * 32767.5).round().numpy().astype(np.uint16)
                    tifffile.imwrite(path, tiff, imagej=True, metadata={"axes": "CYX"})
                rows.append((str(path), str(classes[k])))
    return pd.DataFrame(rows, columns=["path", "label"]).sort_values(["label", "path"], ignore_index=True)
