"""Stack every declared headline.tsv into results/summary.tsv."""

import logging

from dlbio.evaluate.summary import summary_table
from dlbio.io import log_to

log_to(snakemake.log[0])
table = summary_table(snakemake.input)
table.to_csv(snakemake.output[0], sep="\t", index=False)
logging.info("\n%s", table.to_string(index=False))
