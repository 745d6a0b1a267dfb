"""Train one algorithm of a motif experiment, sample, count: its row of the experiment's table (JSON)."""

import torch

from dlbio.device import resolve_device
from dlbio.io import log_to, write_json
from dlbio.train.motif_gan import run_algorithm

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
name, algorithm = snakemake.wildcards.experiment, snakemake.wildcards.algorithm
row = run_algorithm(name, algorithm, snakemake.params.entry, resolve_device(snakemake.params.device))
write_json(row, snakemake.output.row)
