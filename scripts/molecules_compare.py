"""Table and figure comparing every molecule model with the fingerprint baseline."""

from dlbio.evaluate.comparison import compare_models, plot_comparison
from dlbio.evaluate.properties import HEADLINE
from dlbio.io import log_to

log_to(snakemake.log[0])
metrics = HEADLINE[snakemake.params.task]
table = compare_models(snakemake.input.metrics, "fp_rf", metrics)
table.to_csv(snakemake.output.table, sep="\t", index=False)
plot_comparison(table, snakemake.output.figure, f"{snakemake.wildcards.dataset}: test molecules", metrics)
