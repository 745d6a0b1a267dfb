"""Table of every GAN run's evaluation on one dataset."""

from dlbio.evaluate.summary import evaluation_table
from dlbio.io import log_to

log_to(snakemake.log[0])
evaluation_table(snakemake.input).to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.5g")
