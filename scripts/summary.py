"""Gather the headline number of every path into results/summary.tsv."""

import logging

from dlbio.evaluate.summary import summary_table
from dlbio.io import log_to

log_to(snakemake.log[0])
files = {path: dict(zip(names, snakemake.input[path])) for path, names in snakemake.params.names.items()}
table = summary_table(**files)
table.to_csv(snakemake.output[0], sep="\t", index=False)
logging.info("\n%s", table.to_string(index=False))
