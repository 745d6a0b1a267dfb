"""Config entry → QC, HVGs, scaling, the embedding (PCA or autoencoder), kNN graph tensors, the per-cell table,
the reference (what maps new cells onto this graph) and the embedding's fit (table and figure)."""

import torch

from dlbio.data.cell_reference import save_reference
from dlbio.device import resolve_device
from dlbio.io import log_to, save_tensors
from dlbio.train.cell_embedding import plot_embedding_history, prepare_cell_dataset

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, name = snakemake.output, snakemake.wildcards.dataset
device = resolve_device(snakemake.params.device)
tensors, cells, reference, history = prepare_cell_dataset(name, snakemake.params.entry, device, snakemake.threads)
save_tensors(tensors, out.graph)
cells.to_csv(out.cells, sep="\t", index=False)
save_reference(reference, out.reference)
history.to_csv(out.fit, sep="\t", index=False)
plot_embedding_history(history, out.figure, f"{name}: {reference['embedding']} embedding")
