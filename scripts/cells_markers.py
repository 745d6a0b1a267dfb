"""A cell dataset's marker genes per type and its validation cells' marker lack: the unassigned rule's third part."""

import numpy as np

from dlbio.apply.novelty import reference_markers
from dlbio.data.cell_reference import load_reference
from dlbio.data.cells import read_cell_table
from dlbio.io import log_to

log_to(snakemake.log[0])
inp, params = snakemake.input, snakemake.params
markers = reference_markers(
    params.source, load_reference(inp.reference), read_cell_table(inp.cells), params.n_markers, params.key
)
with open(snakemake.output[0], "wb") as handle:
    np.savez(handle, **markers)
