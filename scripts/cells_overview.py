"""Every cells dataset's model comparison in one table, each row with its dataset's embedding, split and kNN
search, and the embedding's scIB integration metrics: a held-out-donor or autoencoder variant of a dataset
sits beside the original."""

import pandas as pd

from dlbio.data.cell_reference import load_reference
from dlbio.evaluate.comparison import describe_cells_dataset, stack_comparisons
from dlbio.evaluate.integration import METRICS
from dlbio.io import log_to

log_to(snakemake.log[0])
datasets, entries = snakemake.params.datasets, snakemake.params.entries
tables = {name: pd.read_csv(path, sep="\t") for name, path in zip(datasets, snakemake.input.tables)}
descriptions = {
    name: describe_cells_dataset(entries[name], load_reference(path)["knn_recall"])
    for name, path in zip(datasets, snakemake.input.references)
}
integration = pd.concat(
    [pd.read_csv(path, sep="\t").assign(dataset=name) for name, path in zip(datasets, snakemake.input.integration)]
)
table = stack_comparisons(tables, descriptions).merge(integration[["dataset", *METRICS]], on="dataset", how="left")
table.to_csv(snakemake.output[0], sep="\t", index=False)
