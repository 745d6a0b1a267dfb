"""Logistic regression (one replicate) on the same PCs and split as the GNNs, calibrated on the validation cells."""

from dlbio.data.cells import load_cell_graph, replicate_split
from dlbio.evaluate.classification import evaluate_predictions
from dlbio.io import log_to
from dlbio.train.cell_baseline import fit_logistic, save_logistic

log_to(snakemake.log[0])
out, params, name = snakemake.output, snakemake.params, snakemake.wildcards.model
graph = load_cell_graph(snakemake.input.graph, snakemake.input.cells, pyg=False)
data, cells, classes = replicate_split(*graph, params.replicate)
x, y, train = data.x.numpy(), data.y.numpy(), data.train_mask.numpy()
model = fit_logistic(x[train], y[train], seed=params.replicate["seed"], **params.baseline)
proba = model.predict_proba(x)
_, calibration = evaluate_predictions(cells, proba, classes, name, out.metrics, out.predictions, out.confusion)
save_logistic(model, out.model, calibration.temperature)
