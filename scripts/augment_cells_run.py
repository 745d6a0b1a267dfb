"""One (fraction, seed) of a rare cell-type augmentation experiment: every arm × model, scored on the test cells."""

import torch

from dlbio.augment.cells import run_augmentation
from dlbio.data.cells import load_cell_graph
from dlbio.device import resolve_device
from dlbio.io import log_to, save_tensors

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, params = snakemake.output, snakemake.params
data, _, classes = load_cell_graph(snakemake.input.graph, snakemake.input.cells)
runs, generated, kept, losses = run_augmentation(
    data,
    classes,
    snakemake.wildcards.experiment,
    params.entry,
    params.graph,
    params.fraction,
    params.seed,
    resolve_device(params.device),
)
save_tensors({"generated": torch.from_numpy(generated), "kept": torch.from_numpy(kept)}, out.generated)
losses.to_csv(out.losses, sep="\t", index=False)
runs.to_csv(out.runs, sep="\t", index=False)
