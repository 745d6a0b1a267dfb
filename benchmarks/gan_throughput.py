"""Benchmark GAN training throughput: in-memory uint8 tile store versus one PNG decoded per tile.

Run from the repository root:

    .venv/bin/python benchmarks/gan_throughput.py [--widths 16 64] [--iterations 2] [--num-workers 0 2]

Data: LIN-like cells simulated with ``dlbio.data.simulate_lin`` (TIFFs) and ingested into a tile
store with ``dlbio.data.tiles``; the training tiles are also written as LIN's published layout
(``<root>_train/<Class>/cellNNNNNN.png``, 8-bit RGB, R = channel 0, G = channel 1, B = 0).

Both sides train with dlbio's ``GANTrainer`` (same nets, losses, optimisers and training step);
only the source of real batches differs:

- ours: ``TileSampler``, random tiles and flips drawn per batch from the uint8 store on the device;
- baseline: as aosokin/biogans with ``--dataset_type folder`` (torchvision ``ImageFolder``): a
  ``Dataset`` that opens one PNG per tile with Pillow, flips it at random and maps it to [-1, 1],
  and a shuffling ``DataLoader`` (drop_last, persistent workers) per generator output: one over
  all classes for dcgan / dcgan-separable, one per class for dcgan-starshaped. The trainer's
  sampler is swapped for one that stacks these loaders' batches to (batch, K, C, H, W).
  (BioGANs' own experiment scripts use its ``folder-cached`` / ``conditional-cached`` datasets,
  which decode every PNG once into RAM and keep only the per-item flips and float conversion.)

Per (device, width, arch, algorithm) one trainer is built and warmed up by one iteration; then at
least ``--iterations`` generator iterations (and 2 s) are timed with our sampler and again with each
baseline loader (built just before its turn, one batch pulled first so its workers are running).
WGAN runs with ``critic_warmup`` = n_critic = 5: BioGANs' 100 critic steps for the first 25
iterations (and every 500th) are left out, so every timed iteration is a steady-state one. img/s
counts the real images the critics consume: critic steps × batch × K per iteration.
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dlbio.data.simulate_lin import simulate_lin
from dlbio.data.tile_batches import TileSampler
from dlbio.data.tiles import (
    build_tile_store,
    list_images,
    load_tile_store,
    save_tile_store,
    training_tiles,
)
from dlbio.models.registry import GAN_ARCHS as ARCHS
from dlbio.train.adversarial import ALGORITHMS, critic_steps
from dlbio.train.gan import GANTrainer

SIZE, NZ, SEED = (48, 80), 100, 0
DATA_REPEATS = 20  # batches per data-path timing
MIN_SECONDS = 2.0  # fast configurations repeat iterations up to this much time per side


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--widths", type=int, nargs="+", default=[16, 64], help="net width (BioGANs: 64; demo: 16)")
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per side (at least; more up to 2 s)")
    p.add_argument("--batch-size", type=int, default=64, help="per generator output (BioGANs: 64)")
    p.add_argument("--num-workers", type=int, nargs="+", default=[0, 2], help="baseline DataLoader workers")
    p.add_argument("--per-class", type=int, default=400, help="simulated cells per class (80 %% train)")
    return p.parse_args()


# ---------------------------------------------------------------- data


def prepare_data(root, per_class):
    """Simulated cells → tile store → training tiles; the same tiles as LIN-layout PNGs under ``root``."""
    simulate_lin(root / "sim", per_class, SIZE, SEED)
    store, _ = build_tile_store(list_images(root / "sim", None), [0, 1], SIZE, "crop", "dtype", 0.2, SEED)
    save_tile_store(store, root / "tiles.npz")
    images, labels, classes = training_tiles(load_tile_store(root / "tiles.npz"))
    png_root = root / "LIN_Normalized_WT_size-48-80_train"
    for k, name in enumerate(classes):
        (png_root / name).mkdir(parents=True)
        for i, tile in enumerate(images[labels == k]):
            rgb = np.zeros((*SIZE, 3), np.uint8)
            rgb[..., :2] = tile.transpose(1, 2, 0)
            Image.fromarray(rgb).save(png_root / name / f"cell{i:06d}.png")
    return images, labels, png_root


class PngTiles(Dataset):
    """BioGANs' ``folder`` dataset: one RGB PNG opened per item, random flips, R and G in [-1, 1]."""

    def __init__(self, paths, channels=2):
        self.paths, self.channels = paths, channels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as img:
            img = img.convert("RGB")
        if random.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if random.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[: self.channels]
        return x.float() / 127.5 - 1, 0


class LoaderSampler:
    """``TileSampler.batch`` fed by DataLoaders, one per generator output, restarted at each epoch's end."""

    def __init__(self, folders, batch_size, num_workers, device):
        self.loaders = [
            DataLoader(
                PngTiles(sorted(f.rglob("*.png"))),
                batch_size,
                shuffle=True,
                drop_last=True,
                num_workers=num_workers,
                persistent_workers=num_workers > 0,
            )
            for f in folders
        ]
        self.iters = [iter(loader) for loader in self.loaders]
        self.batch_size, self.device = batch_size, device

    def next(self, k):
        try:
            return next(self.iters[k])[0]
        except StopIteration:
            self.iters[k] = iter(self.loaders[k])
            return next(self.iters[k])[0]

    def batch(self, size):
        assert size == self.batch_size, "the DataLoader's batch size is fixed"
        return torch.stack([self.next(k) for k in range(len(self.loaders))], 1).to(self.device)


def png_folders(png_root, arch):
    """BioGANs reads the whole training folder, or one folder per class for star-shaped nets."""
    return sorted(p for p in png_root.iterdir()) if arch == "dcgan-starshaped" else [png_root]


# ---------------------------------------------------------------- timing


def seconds(fn, repeats, min_seconds=MIN_SECONDS):
    """Mean seconds per call of ``fn`` over at least ``repeats`` calls and ``min_seconds`` in all."""
    start, calls = time.perf_counter(), 0
    while calls < repeats or time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def pull(sampler, size):
    """One real batch, finished (``.item()`` waits for CUDA)."""
    sampler.batch(size)[0, 0, 0, 0, 0].item()


def iteration(trainer, size):
    """One generator iteration of ``GANTrainer.train`` (its critic steps, then the generator step)."""
    for _ in range(critic_steps(trainer.settings, trainer.iteration)):
        trainer.critic_step(size)  # ends in loss.item(), so CUDA work is finished when the clock stops
    trainer.generator_step(size)
    trainer.iteration += 1


def make_trainer(arch, algorithm, width, images, labels, device, batch_size, tmp):
    run = {
        "name": "bench",
        "arch": arch,
        "algorithm": algorithm,
        "width": width,
        "nz": NZ,
        "seed": SEED,
        "batch_size": batch_size,
        "grid_rows": 8,
        "critic_warmup": ALGORITHMS["wgan"]["n_critic"],
        "max_snapshots": 0,
    }
    return GANTrainer(run, images, labels, int(labels.max()) + 1, device, tmp / "checkpoints")


def benchmark_config(device, width, arch, algorithm, data, args, tmp):
    """One table row: ours, then each baseline, on one trainer after one warm-up iteration."""
    images, labels, png_root = data
    trainer = make_trainer(arch, algorithm, width, images, labels, device, args.batch_size, tmp)
    ours = trainer.sampler
    iteration(trainer, args.batch_size)
    per_iter = critic_steps(trainer.settings, trainer.iteration) * args.batch_size * trainer.generator.n_outputs
    t_ours = seconds(lambda: iteration(trainer, args.batch_size), args.iterations)
    row = {
        "device": device.type,
        "width": width,
        "arch": arch,
        "algorithm": algorithm,
        "ours img/s": per_iter / t_ours,
        "ours s/iter": t_ours,
    }
    for workers in args.num_workers:
        trainer.sampler = LoaderSampler(png_folders(png_root, arch), args.batch_size, workers, device)
        trainer.sampler.batch(args.batch_size)  # start the workers
        t_base = seconds(lambda: iteration(trainer, args.batch_size), args.iterations)
        row[f"base w{workers} img/s"] = per_iter / t_base
        row[f"speed-up w{workers}"] = t_base / t_ours
    trainer.sampler = ours
    return row


def data_path_rates(data, args, device):
    """Batches/s of the real-batch source alone, for K = 1 (joint nets) and K = 6 (one batch per class)."""
    images, labels, png_root = data
    rows = []
    for arch in ("dcgan", "dcgan-starshaped"):
        k = 1 if arch == "dcgan" else int(labels.max()) + 1
        rng = torch.Generator().manual_seed(SEED)
        ours = TileSampler(images, labels, k, device, rng)
        row = {
            "device": device.type,
            "batch": f"{args.batch_size} x K={k}",
            "ours batches/s": 1 / seconds(lambda: pull(ours, args.batch_size), DATA_REPEATS),
        }
        for workers in args.num_workers:
            base = LoaderSampler(png_folders(png_root, arch), args.batch_size, workers, device)
            base.batch(args.batch_size)
            row[f"base w{workers} batches/s"] = 1 / seconds(lambda: pull(base, args.batch_size), DATA_REPEATS)
        rows.append(row)
    return pd.DataFrame(rows)


def main():
    args = parse_args()
    torch.set_num_threads(2)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gan_throughput_") as tmp:
        tmp = Path(tmp)
        data = prepare_data(tmp, args.per_class)
        print(
            f"{len(data[0])} training tiles {SIZE[0]}x{SIZE[1]} in {time.perf_counter() - start:.0f} s; "
            f"batch {args.batch_size} per generator output, at least {args.iterations} timed iterations "
            f"and {MIN_SECONDS:.0f} s per side, "
            f"torch threads {torch.get_num_threads()}\n"
        )
        print("Data path alone (real batches to the device, no training):")
        print(pd.concat([data_path_rates(data, args, d) for d in devices]).to_string(index=False, float_format="%.1f"))
        rows = []
        for device in devices:
            for width in args.widths:
                for arch in args.archs:
                    for algorithm in args.algorithms:
                        rows.append(benchmark_config(device, width, arch, algorithm, data, args, tmp))
                        done = f"{time.perf_counter() - start:5.0f} s  {device.type} w{width} {arch} {algorithm}"
                        print(done, file=sys.stderr)
    table = pd.DataFrame(rows)
    print(
        "\nTraining throughput (img/s: real images consumed by the critics; speed-up = ours / baseline;"
        " WGAN without its 100-step critic warm-up;\n base wN: PNG Dataset + DataLoader with N workers):"
    )
    print(table.to_string(index=False, float_format="%.2f"))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
