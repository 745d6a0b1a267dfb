"""Table and figure comparing every molecule model with the fingerprint baseline over replicates (and, without
resplit, each model's replicate ensemble), with the conformal intervals' test coverage and width where calibrated;
the test error against the similarity to the training molecules; the dataset's headline."""

import pandas as pd

from dlbio.evaluate.applicability import error_by_similarity, held_out_errors, plot_applicability
from dlbio.evaluate.calibration import ECE_METRICS
from dlbio.evaluate.comparison import by_model, compare_models, plot_comparison, read_replicates
from dlbio.evaluate.molecule_intervals import comparison_columns
from dlbio.evaluate.properties import HEADLINE, ensemble_rows
from dlbio.evaluate.summary import model_vs_baseline, write_headline
from dlbio.io import log_to
from dlbio.models.registry import MOLECULE_BASELINE

log_to(snakemake.log[0])
out, name, entry = snakemake.output, snakemake.wildcards.dataset, snakemake.params.entry
targets, metrics = entry["targets"], HEADLINE[entry["task"]]
predictions = by_model(snakemake.input.predictions)
compared = metrics + ECE_METRICS if entry["task"] == "classification" else metrics
table = compare_models(snakemake.input.metrics, MOLECULE_BASELINE, compared)
if table["n_replicates"].min() > 1 and not entry["resplit"]:
    table = pd.concat([table, ensemble_rows(predictions, MOLECULE_BASELINE, targets, entry["task"])])
if "intervals" in snakemake.input.keys():
    intervals = comparison_columns(pd.read_csv(snakemake.input.intervals, sep="\t"))
    table = table.join(intervals, on="model")
table.to_csv(out.table, sep="\t", index=False)
plot_comparison(table[table["kind"] == "replicates"], out.figure, f"{name}: test molecules", metrics)
write_headline(model_vs_baseline("molecules", name, table, MOLECULE_BASELINE), out.headline)
tables = {model: read_replicates(paths, targets, same_split=False)[0] for model, paths in predictions.items()}
errors = held_out_errors(tables, targets, entry["baseline"]["radius"], entry["baseline"]["n_bits"])
error_by_similarity(errors).to_csv(out.applicability_table, sep="\t", index=False)
plot_applicability(errors, out.applicability, f"{name}: test error against similarity to the training molecules")
