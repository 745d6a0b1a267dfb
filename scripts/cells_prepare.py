"""Config entry → preprocessed PCs, kNN graph tensors and the per-cell table."""

from dlbio.data.cells import prepare_cell_dataset
from dlbio.io import log_to, save_tensors

log_to(snakemake.log[0])
tensors, cells = prepare_cell_dataset(snakemake.wildcards.dataset, snakemake.params.entry)
save_tensors(tensors, snakemake.output.graph)
cells.to_csv(snakemake.output.cells, sep="\t", index=False)
