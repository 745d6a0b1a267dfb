"""Benchmark the motif experiment's training on 2 cores: one job in two threads versus jobs in one thread each.

Run from the repository root:

    .venv/bin/python benchmarks/motif_threads.py [--experiment two_modes_alternating] [--iterations 100]

The experiment comes from ``config/config.yaml`` (validated, so schema defaults apply) with
``iterations`` cut to ``--iterations`` generator steps. Each algorithm it configures is trained
with dlbio's ``train_motif_gan`` in fresh processes:

- baseline: one process, ``torch.set_num_threads(2)`` (the rule's threads before it ran in one);
- one process in one thread;
- two processes side by side, one thread each (what the scheduler does with a one-thread motif
  job and another one-thread job).

Generator steps/s are per process; "throughput" sums them over the processes running at once,
and the ratio compares that with the baseline's: how much more training two cores do per second.
"""

import argparse
import multiprocessing
import time

import pandas as pd
import torch
import yaml
from snakemake.utils import validate

from dlbio.data.motifs import make_sequences
from dlbio.train.motif_gan import train_motif_gan

# (name, processes side by side, torch threads each)
SETTINGS = (("1 job × 2 threads", 1, 2), ("1 job × 1 thread", 1, 1), ("2 jobs × 1 thread", 2, 1))


def timed_training(experiment, algorithm, threads):
    """Seconds for ``train_motif_gan`` in this process with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    sequences, _ = make_sequences(experiment["modes"], experiment["n_train"], experiment["length"], experiment["seed"])
    start = time.perf_counter()
    train_motif_gan(sequences, algorithm, experiment, torch.device("cpu"))
    return time.perf_counter() - start


def run_side_by_side(experiment, algorithm, processes, threads):
    """Seconds per process, ``processes`` fresh processes started together."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return pool.starmap(timed_training, [(experiment, algorithm, threads)] * processes)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="two_modes_alternating")
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    with open("config/config.yaml") as handle:
        config = yaml.safe_load(handle)
    validate(config, "config/schema.yaml")
    experiment = config["motifs"][args.experiment] | {"iterations": args.iterations}
    rows = []
    for algorithm in experiment["algorithms"]:
        baseline = None
        for setting, processes, threads in SETTINGS:
            seconds = run_side_by_side(experiment, algorithm, processes, threads)
            per_process = [args.iterations / s for s in seconds]
            throughput = sum(per_process)
            baseline = baseline or throughput
            rows.append(
                {
                    "algorithm": algorithm,
                    "setting": setting,
                    "steps/s per job": round(throughput / processes, 2),
                    "throughput steps/s": round(throughput, 2),
                    "vs 1 job × 2 threads": round(throughput / baseline, 2),
                }
            )
    print(f"{args.experiment}: {args.iterations} generator steps per job, {torch.get_num_threads()} cores visible")
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
