"""Tile classification speed: dlbio ``classify_images`` versus one PIL decode and one forward pass per file.

Run from the repository root:

    .venv/bin/python benchmarks/classify_images.py [--n 4000] [--size 48 80] [--width 8] [--repeats 2]

Input: ``--n`` seeded 2-channel tiles of ``--size`` pixels (LIN's 48 × 80 by default) in two classes,
written as RGB PNGs with an empty blue channel (LIN's files), and again as 16-bit TIFFs. The classifier
(``--width`` 8: the evaluation's default) is trained untimed for one epoch on 64 of them. Timed, from the
files to a class and confidence per file, best of ``--repeats``:

- per-file baseline: for each file one PIL decode, the two channels as a (1, 2, H, W) tensor, one forward pass;
- dlbio ``classify_images`` (``intensity: dtype``, ``fit: crop``): threads decode and fit the images,
  batches of 256 go through the model, 1,024 files at a time; on the PNGs and on the TIFFs.

``ratio``: tiles/s over the per-file baseline's.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import torch
from PIL import Image

from dlbio.apply.images import classify_images, list_new_images
from dlbio.data.tile_batches import to_unit_range
from dlbio.evaluate.calibration import ProbabilityCalibration
from dlbio.train.tile_classifier import fit_tile_classifier, load_tile_classifier, save_tile_classifier

CPU = torch.device("cpu")
CLASSES = ["a", "b"]


def toy_tiles(n, size, seed=0):
    """uint8 (n, 2, H, W) noise; class "a" bright in the red channel, "b" in the green one."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, 2, *size), dtype=np.uint8)
    labels = np.arange(n) % 2
    images[labels == 0, 0] += 150
    images[labels == 1, 1] += 150
    return images, labels


def write_files(images, labels, folder):
    """Every tile as ``folder/png/<class>/i.png`` (RGB, empty blue) and ``folder/tif/<class>/i.tif`` (uint16)."""
    for i, (tile, label) in enumerate(zip(images, labels)):
        for kind in ("png", "tif"):
            (folder / kind / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        rgb = np.moveaxis(np.concatenate([tile, np.zeros_like(tile[:1])]), 0, -1)
        Image.fromarray(rgb).save(folder / "png" / CLASSES[label] / f"{i:06d}.png")
        tifffile.imwrite(folder / "tif" / CLASSES[label] / f"{i:06d}.tif", tile.astype(np.uint16) * 257)


@torch.no_grad()
def per_file(paths, model):
    """The baseline: one PIL decode and one forward pass per file."""
    rows = []
    for path in paths:
        with Image.open(path) as img:
            tile = np.moveaxis(np.array(img), -1, 0)[:2][None]
        proba = torch.softmax(model(to_unit_range(tile)), dim=1)[0]
        rows.append((path, CLASSES[int(proba.argmax())], float(proba.max())))
    return pd.DataFrame(rows, columns=["path", "class", "confidence"])


def best_seconds(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--size", type=int, nargs=2, default=[48, 80])
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    images, labels = toy_tiles(args.n, tuple(args.size))
    params = {"width": args.width, "epochs": 1, "batch_size": 32, "lr": 0.002, "weight_decay": 0.0}
    reading = {"channels": [0, 1], "size": args.size, "fit": "crop", "intensity": "dtype"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_files(images, labels, tmp)
        save_tile_classifier(
            fit_tile_classifier(images[:64], labels[:64], 2, params, CPU, 0),
            tmp / "model.pt",
            CLASSES,
            ProbabilityCalibration(1.0, np.zeros(0)),  # uncalibrated: this measures speed only
        )
        model = load_tile_classifier(tmp / "model.pt", CPU)
        png, tif = list_new_images(tmp / "png"), list_new_images(tmp / "tif")
        methods = {
            "per file: PIL decode + forward (PNG)": lambda: per_file(png, model),
            "dlbio classify_images (PNG)": lambda: classify_images(png, tmp / "model.pt", reading, CPU, 0.9),
            "dlbio classify_images (16-bit TIFF)": lambda: classify_images(tif, tmp / "model.pt", reading, CPU, 0.9),
        }
        results = {name: best_seconds(fn, args.repeats) for name, fn in methods.items()}
    tables = [table for _, table in results.values()]
    agree = min((t["class"].to_numpy() == tables[0]["class"].to_numpy()).mean() for t in tables)
    baseline = args.n / next(iter(results.values()))[0]
    rows = [
        {"method": k, "seconds": s, "tiles/s": args.n / s, "ratio": args.n / s / baseline}
        for k, (s, _) in results.items()
    ]
    threads = f"torch threads {torch.get_num_threads()}, cores {os.cpu_count()}"
    print(f"{args.n} tiles of 2 x {args.size[0]} x {args.size[1]} pixels, classifier width {args.width}; {threads}")
    print(f"classes agree with the baseline on {agree:.1%}\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
