"""Table and figure comparing every molecule model with the fingerprint baseline over replicates (and, without
resplit, each model's replicate ensemble); the dataset's headline."""

import pandas as pd

from dlbio.evaluate.comparison import compare_models, plot_comparison
from dlbio.evaluate.properties import HEADLINE, ensemble_rows
from dlbio.evaluate.summary import model_vs_baseline, write_headline
from dlbio.io import log_to
from dlbio.models.registry import MOLECULE_BASELINE

log_to(snakemake.log[0])
out, name, entry = snakemake.output, snakemake.wildcards.dataset, snakemake.params.entry
metrics = HEADLINE[entry["task"]]
table = compare_models(snakemake.input.metrics, MOLECULE_BASELINE, metrics)
if table["n_replicates"].min() > 1 and not entry["resplit"]:
    predictions = {}
    for path in snakemake.input.predictions:
        predictions.setdefault(path.split("/")[-3], []).append(path)
    table = pd.concat([table, ensemble_rows(predictions, MOLECULE_BASELINE, entry["targets"], entry["task"])])
table.to_csv(out.table, sep="\t", index=False)
plot_comparison(table[table["kind"] == "replicates"], out.figure, f"{name}: test molecules", metrics)
write_headline(model_vs_baseline("molecules", name, table, MOLECULE_BASELINE), out.headline)
