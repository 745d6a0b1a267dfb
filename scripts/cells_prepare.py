"""Config entry → preprocessed PCs, kNN graph tensors, the per-cell table and the reference (what maps new
cells onto this graph)."""

from dlbio.data.cells import prepare_cell_dataset, save_reference
from dlbio.io import log_to, save_tensors

log_to(snakemake.log[0])
tensors, cells, reference = prepare_cell_dataset(snakemake.wildcards.dataset, snakemake.params.entry)
save_tensors(tensors, snakemake.output.graph)
cells.to_csv(snakemake.output.cells, sep="\t", index=False)
save_reference(reference, snakemake.output.reference)
