"""Conformal intervals of every regression model of a molecules entry, calibrated on its replicates' validation
molecules and scored on the test molecules (no retraining: a new level reruns only this and what reads it)."""

from dlbio.evaluate.comparison import by_model
from dlbio.evaluate.molecule_intervals import calibrate_models, flat_metrics
from dlbio.io import log_to, write_json

log_to(snakemake.log[0])
out, entry, name = snakemake.output, snakemake.params.entry, snakemake.wildcards.dataset
level, shared = entry["interval_level"], not entry["resplit"]
table = calibrate_models(by_model(snakemake.input.predictions), entry["targets"], level, shared, f"molecules.{name}")
table.to_csv(out.table, sep="\t", index=False, float_format="%.6g")
write_json(flat_metrics(table), out.metrics)
