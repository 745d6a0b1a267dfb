"""One (fraction, seed) of an image augmentation experiment: classifier on real vs real + synthetic tiles."""

import torch

from dlbio.augment.images import experiment_run
from dlbio.data.tiles import load_tile_store
from dlbio.device import resolve_device
from dlbio.io import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
runs = experiment_run(
    load_tile_store(snakemake.input.tiles),
    snakemake.input.generator,
    params.gan,
    params.fraction,
    params.seed,
    params.entry["synthetic_ratio"],
    params.entry["classifier"],
    resolve_device(params.device),
    snakemake.wildcards.experiment,
)
runs.to_csv(snakemake.output[0], sep="\t", index=False)
