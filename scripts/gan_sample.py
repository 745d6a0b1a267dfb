"""Draw synthetic tiles per class from a trained generator, in the real tile-store format."""

import numpy as np

from dlbio.data.tiles import load_tile_store, plot_class_montage, save_tile_store, training_tiles
from dlbio.device import resolve_device
from dlbio.io import log_to
from dlbio.train.gan import load_generator, sample_tiles

log_to(snakemake.log[0])
out, run = snakemake.output, snakemake.params.entry
store = load_tile_store(snakemake.input.tiles)
images, _, classes = training_tiles(store, run["classes"])
device = resolve_device(snakemake.params.device)
generator = load_generator(snakemake.input.generator, run, len(classes), images.shape[1], images.shape[2:], device)
tiles, outputs = sample_tiles(generator, run["n_samples"], run["seed"] + 1, device)
names = classes if generator.n_outputs > 1 or len(classes) == 1 else np.array(["all"])
synthetic = {"images": tiles, "labels": outputs, "classes": names, "split": np.full(len(tiles), "synthetic")}
save_tile_store(synthetic, out.tiles)
plot_class_montage(tiles, outputs, names, out.montage, title=f"{snakemake.wildcards.run}: generated tiles")
