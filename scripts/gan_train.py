"""Train one GAN run (resuming from its last checkpoint) and write weights, losses and figures."""

import logging
from pathlib import Path

import torch

from dlbio.data.tiles import load_tile_store, training_tiles
from dlbio.device import resolve_device
from dlbio.evaluate.feasibility import check_run_can_be_scored
from dlbio.io import log_to
from dlbio.train.gan import GANTrainer
from dlbio.train.gan_figures import plot_losses, plot_progress

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, run = snakemake.output, snakemake.params.entry | {"name": snakemake.wildcards.run}
store = load_tile_store(snakemake.input.tiles)
logging.info("tiles per class: %s", check_run_can_be_scored(store, snakemake.params.scored_by, run["name"]))
images, labels, classes = training_tiles(store, run["classes"])
device = resolve_device(snakemake.params.device)
trainer = GANTrainer(run, images, labels, len(classes), device, snakemake.params.checkpoint_dir)
losses = trainer.train()
torch.save(trainer.generator.state_dict(), out.generator)
trainer.export_snapshots(out.snapshots)
losses.to_csv(out.losses, sep="\t", index=False)
plot_losses(losses, out.loss_plot, f"{run['name']}: {run['arch']} / {run['algorithm']}")
plot_progress(Path(trainer.progress_dir).glob("iter_*.png"), out.progress)
