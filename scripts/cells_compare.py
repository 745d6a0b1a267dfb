"""Table and figure comparing every model of a dataset with the logistic baseline."""

from dlbio.evaluate.classification import HEADLINE
from dlbio.evaluate.comparison import compare_models, plot_comparison
from dlbio.io import log_to

log_to(snakemake.log[0])
table = compare_models(snakemake.input.metrics, "logreg", HEADLINE)
table.to_csv(snakemake.output.table, sep="\t", index=False)
plot_comparison(table, snakemake.output.figure, f"{snakemake.wildcards.dataset}: test cells", HEADLINE)
