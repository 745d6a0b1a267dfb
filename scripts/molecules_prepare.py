"""Molecule table → RDKit-checked, standardised, de-duplicated graphs, a split and rejected.tsv."""

import logging
from pathlib import Path

from dlbio.data.molecules import RejectedRowsError, prepare_molecule_dataset
from dlbio.io import log_to, save_tensors

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.dataset
try:
    tensors, kept, rejected = prepare_molecule_dataset(name, snakemake.params.entry, snakemake.threads)
except RejectedRowsError as err:  # the job's outputs are removed on failure; the log folder is kept
    kept_rejected = Path(snakemake.log[0]).with_name("rejected.tsv")
    err.rejected.to_csv(kept_rejected, sep="\t", index=False)
    logging.error("rejected rows written to %s", kept_rejected)
    raise
save_tensors(tensors, out.graphs)
kept.to_csv(out.table, sep="\t", index=False)
rejected.to_csv(out.rejected, sep="\t", index=False)
