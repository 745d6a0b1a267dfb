"""Write a trained generator's tiles as image files, <Class>/NNNNNN.png (or .tif), and their table."""

import os

import numpy as np
import torch

from dlbio.apply.images import export_generated
from dlbio.data.tiles import load_tile_store, training_tiles
from dlbio.device import resolve_device
from dlbio.io import log_to
from dlbio.train.gan import load_generator

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, run, name = snakemake.output, snakemake.params.entry, snakemake.wildcards.run
images, _, classes = training_tiles(load_tile_store(snakemake.input.tiles), run["classes"])
device = resolve_device(snakemake.params.device)
generator = load_generator(snakemake.input.generator, run, len(classes), images.shape[1], images.shape[2:], device)
names = classes if generator.n_outputs > 1 or len(classes) == 1 else np.array(["all"])  # as gan_sample
export = run["export"]
# the noise of gan_sample (seed + 1): the first n_samples exported tiles are those of synthetic.npz
key = f"gan.{name}.export.format"
table = export_generated(generator, names, export["n"], out.tiles, export["format"], run["seed"] + 1, device, key=key)
table["path"] = [os.path.relpath(p, os.path.dirname(out.table)) for p in table["path"]]  # a dlbio manifest
table.to_csv(out.table, sep="\t", index=False)
