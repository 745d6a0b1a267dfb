"""Table and figure comparing every model of a dataset with the logistic baseline (calibration included), the
models' reliability diagrams; the dataset's headline."""

import pandas as pd

from dlbio.evaluate.calibration import ECE_METRICS, plot_reliability
from dlbio.evaluate.classification import HEADLINE, reliability_panels
from dlbio.evaluate.comparison import by_model, compare_models, plot_comparison
from dlbio.evaluate.summary import model_vs_baseline, write_headline
from dlbio.io import log_to
from dlbio.models.registry import CELL_BASELINE

log_to(snakemake.log[0])
out, name = snakemake.output, snakemake.wildcards.dataset
table = compare_models(snakemake.input.metrics, CELL_BASELINE, HEADLINE + ECE_METRICS)
table.to_csv(out.table, sep="\t", index=False)
plot_comparison(table, out.figure, f"{name}: test cells", HEADLINE)
write_headline(model_vs_baseline("cells", name, table, CELL_BASELINE), out.headline)
predictions = by_model(snakemake.input.predictions)
tables = {model: [pd.read_csv(p, sep="\t", dtype={"label": str}) for p in paths] for model, paths in predictions.items()}
plot_reliability(reliability_panels(tables), out.reliability, f"{name}: test cells, replicates pooled")
