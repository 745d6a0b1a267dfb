"""scIB integration metrics of a cells dataset's embedding (the graph's node features), labelled cells only."""

from dlbio.data.cells import load_cell_graph
from dlbio.evaluate.integration import score_cells
from dlbio.io import log_to

log_to(snakemake.log[0])
data, cells, _ = load_cell_graph(snakemake.input.graph, snakemake.input.cells, pyg=False)
score_cells(data.x.numpy(), cells, seed=snakemake.params.entry["seed"]).to_csv(
    snakemake.output[0], sep="\t", index=False
)
