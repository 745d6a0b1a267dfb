"""Before any training: the prepared split has enough labelled validation molecules for the entry's interval level."""

from dlbio.evaluate.molecule_intervals import check_validation_size
from dlbio.io import log_to

log_to(snakemake.log[0])
entry, name = snakemake.params.entry, snakemake.wildcards.dataset
table = check_validation_size(snakemake.input.table, entry["targets"], entry["interval_level"], f"molecules.{name}")
table.to_csv(snakemake.output.check, sep="\t", index=False)
