"""Logistic regression on the same PCs and split as the GNNs."""

from dlbio.data.cells import load_cell_graph
from dlbio.evaluate.classification import evaluate_predictions
from dlbio.io import log_to
from dlbio.train.baseline import fit_logistic

log_to(snakemake.log[0])
out, entry, name = snakemake.output, snakemake.params.entry, snakemake.wildcards.model
data, cells, classes = load_cell_graph(snakemake.input.graph, snakemake.input.cells)
x, y, train = data.x.numpy(), data.y.numpy(), data.train_mask.numpy()
model = fit_logistic(x[train], y[train], seed=entry["seed"], **entry["baseline"])
evaluate_predictions(cells, model.predict_proba(x), classes, name, out.metrics, out.predictions, out.confusion)
