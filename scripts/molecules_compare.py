"""Table and figure comparing every molecule model with the fingerprint baseline; the dataset's headline."""

from dlbio.evaluate.comparison import compare_models, plot_comparison
from dlbio.evaluate.properties import HEADLINE
from dlbio.evaluate.summary import model_vs_baseline, write_headline
from dlbio.io import log_to
from dlbio.models.registry import MOLECULE_BASELINE

log_to(snakemake.log[0])
out, name, metrics = snakemake.output, snakemake.wildcards.dataset, HEADLINE[snakemake.params.task]
table = compare_models(snakemake.input.metrics, MOLECULE_BASELINE, metrics)
table.to_csv(out.table, sep="\t", index=False)
plot_comparison(table, out.figure, f"{name}: test molecules", metrics)
write_headline(model_vs_baseline("molecules", name, table, MOLECULE_BASELINE), out.headline)
