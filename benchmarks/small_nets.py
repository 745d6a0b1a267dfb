"""Benchmark the demo's small networks on this CPU: steps/s of each, and where their time goes.

Run from the repository root (idle machine; a few minutes):

    .venv/bin/python benchmarks/small_nets.py [--seconds 20] [--threads 1 2] [--profile]

Three trainings, each with the code as the workflow runs it and with one alternative at a time,
side by side in this run (ratios to the first row of each block, never absolute seconds):

- **motif GAN** (``motifs.two_modes_alternating`` of config/config.yaml: pooled nets, batch 32):
  generator steps/s for ``gan`` and ``wgan-gp`` (5 critic steps each) with the configured
  ``channels``, with half of them, and on the 128-bit sequences of the demo before 2026-12-07;
- **tile GAN** (``gan.demo``: star-shaped DCGAN on its classes, 48×80 tiles, width 16, and BioGANs'
  width 64): iterations/s with the nets in PyTorch's default NCHW layout (what ``GANTrainer`` uses)
  and in channels-last layout (NHWC, which oneDNN's convolutions prefer); at width 16 also the demo
  before 2026-12-07 (all six classes, 16 tiles per class a batch);
- **cell GNN** (GraphSAGE with the demo's ``gnn`` settings on a 20,000-cell kNN graph of Gaussian
  clusters, mini-batches of 512 cells with 10 sampled in-neighbours per layer): epochs/s.

Each in ``--threads`` torch threads. ``--profile`` adds, per training, the share of its CPU time
spent in convolutions (forward and backward), the optimiser step and everything else, from
``torch.profiler``: small nets bound by per-operation overhead show a small convolution share.
"""

import argparse
import tempfile
import time

import numpy as np
import pandas as pd
import torch
import yaml
from snakemake.utils import validate
from torch.profiler import profile

from torch_geometric.data import Data

from dlbio.data.cells import knn_graph, stratified_split
from dlbio.data.motifs import make_sequences
from dlbio.data.simulate_lin import CLASSES
from dlbio.train.cell_gnn import fit_node_classifier
from dlbio.train.gan import GANTrainer
from dlbio.train.motif_gan import train_motif_gan

CPU = torch.device("cpu")


def demo_config():
    config = yaml.safe_load(open("config/config.yaml"))
    validate(config, "config/schema.yaml")
    return config


def rate(step, seconds):
    """Calls of ``step`` per second, after one warm-up call, for at least ``seconds``."""
    step()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 2:
        step()
        calls += 1
    return calls / elapsed


def motif_cases(config):
    experiment = dict(config["motifs"]["two_modes_alternating"], critic_pretrain=0, iterations=10)
    for algorithm in experiment["algorithms"]:
        variants = {
            f"configured ({experiment['channels']} channels, length {experiment['length']})": experiment,
            f"half channels ({experiment['channels'] // 2})": experiment | {"channels": experiment["channels"] // 2},
            "length 128 (the demo before 2026-12-07)": experiment | {"length": 128},
        }
        for label, settings in variants.items():
            data = make_sequences(settings["modes"], settings["n_train"], settings["length"], 0)[0]
            yield (
                f"motif {algorithm}",
                label,
                "10 generator steps",
                lambda s=settings, a=algorithm, d=data: train_motif_gan(d, a, s, CPU),
            )


def tile_cases(config, store):
    demo = config["gan"]["demo"] | {"name": "bench", "iterations": 10**9, "checkpoint_every": 10**9}
    classes = len(demo["classes"] or CLASSES)
    before = demo | {"batch_size": 16}  # six classes
    for width in (16, 64):
        variants = [(layout, demo, classes) for layout in (torch.contiguous_format, torch.channels_last)]
        if width == 16:
            variants.append(("six classes, batch 16 (the demo before 2026-12-07)", before, len(CLASSES)))
        for variant, run, k in variants:
            keep = store[1] < k
            trainer = GANTrainer(run | {"width": width}, store[0][keep], store[1][keep], k, CPU, tempfile.mkdtemp())
            layout = variant if isinstance(variant, torch.memory_format) else torch.contiguous_format
            trainer.generator.to(memory_format=layout)
            trainer.critics.to(memory_format=layout)

            def step(trainer=trainer, size=run["batch_size"]):
                trainer.critic_step(size)
                trainer.generator_step(size)

            label = f"{k} classes, {str(layout).removeprefix('torch.')}" if variant is layout else variant
            yield f"tile GAN width {width}", label, "1 iteration", step


def cell_cases(config):
    """GraphSAGE on a 20,000-cell kNN graph of 30-D Gaussian clusters, the demo's ``gnn`` settings."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 20_000)
    x = (rng.normal(size=(len(y), 30)) + 2 * np.eye(10, 30)[y]).astype(np.float32)
    edge_index, edge_weight = knn_graph(x, 15, "euclidean", "union")
    split = stratified_split(y, 0.2, 0.2, seed=0)
    masks = {f"{s}_mask": torch.from_numpy(split == s) for s in ("train", "val", "test")}
    data = Data(x=torch.from_numpy(x), y=torch.from_numpy(y), edge_index=edge_index, edge_weight=edge_weight, **masks)
    gnn = next(iter(config["cells"].values()))["gnn"] | {"max_epochs": 1, "batch_size": 512, "fanout": 10, "steps_per_epoch": None}
    yield "cell GNN sage", "mini-batches of 512", "1 epoch", lambda: fit_node_classifier("sage", data, gnn, CPU, 0)


def conv_share(step):
    """Shares of CPU time in convolutions, the optimiser step and the rest, for one call of ``step``."""
    with profile() as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "convolution" in e.key)
    optim = sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step"))
    return conv / total, optim / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="minimum timed seconds per row")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", choices=["motif", "tile", "cell"], nargs="+", default=["motif", "tile", "cell"])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    config = demo_config()
    rng = np.random.default_rng(0)
    store = rng.integers(0, 256, (900, 2, 48, 80), dtype=np.uint8), np.repeat(np.arange(len(CLASSES)), 150)
    cases = {"motif": lambda: motif_cases(config), "tile": lambda: tile_cases(config, store), "cell": lambda: cell_cases(config)}
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in args.only:
            for block, variant, unit, step in cases[name]():
                row = {"threads": threads, "training": block, "variant": variant, "unit": unit}
                row["per_s"] = rate(step, args.seconds)
                if args.profile:
                    row["conv_share"], row["optimizer_share"] = conv_share(step)
                rows.append(row)
                print(row, flush=True)
    table = pd.DataFrame(rows)
    table["ratio"] = table["per_s"] / table.groupby(["threads", "training"])["per_s"].transform("first")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
