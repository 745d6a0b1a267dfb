"""Table and figure comparing every model of a dataset with the logistic baseline; the dataset's headline."""

from dlbio.evaluate.classification import HEADLINE
from dlbio.evaluate.comparison import compare_models, plot_comparison
from dlbio.evaluate.summary import model_vs_baseline, write_headline
from dlbio.io import log_to
from dlbio.models.registry import CELL_BASELINE

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.dataset
table = compare_models(snakemake.input.metrics, CELL_BASELINE, HEADLINE)
table.to_csv(out.table, sep="\t", index=False)
plot_comparison(table, out.figure, f"{name}: test cells", HEADLINE)
write_headline(model_vs_baseline("cells", name, table, CELL_BASELINE), out.headline)
