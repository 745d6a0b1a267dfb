"""Reliability diagrams of every classifier of a molecules entry on the test molecules (replicates and targets
pooled), before and after calibration."""

import pandas as pd

from dlbio.evaluate.calibration import plot_reliability
from dlbio.evaluate.comparison import by_model
from dlbio.evaluate.properties import reliability_panels
from dlbio.io import log_to

log_to(snakemake.log[0])
targets = snakemake.params.entry["targets"]
tables = {
    model: [pd.read_csv(p, sep="\t", dtype={"id": str, "split": str}) for p in paths]
    for model, paths in by_model(snakemake.input.predictions).items()
}
title = f"{snakemake.wildcards.dataset}: test molecules, replicates pooled"
plot_reliability(reliability_panels(tables, targets), snakemake.output[0], title)
