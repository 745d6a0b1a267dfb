"""Train one GNN node classifier on a prepared cell graph and evaluate it on the test cells."""

import torch

from dlbio.data.cells import load_cell_graph
from dlbio.device import resolve_device
from dlbio.evaluate.classification import evaluate_predictions, plot_embedding
from dlbio.io import log_to
from dlbio.train.gnn import fit_node_classifier, predict_nodes

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, params, arch = snakemake.output, snakemake.params, snakemake.wildcards.model
data, cells, classes = load_cell_graph(snakemake.input.graph, snakemake.input.cells)
device = resolve_device(params.device)
model, history = fit_node_classifier(arch, data, params.gnn, device, params.seed)
history.to_csv(out.history, sep="\t", index=False)
proba, hidden = predict_nodes(model, data, device)
predicted = evaluate_predictions(cells, proba, classes, arch, out.metrics, out.predictions, out.confusion)
plot_embedding(hidden, cells["label"].to_numpy(), predicted, out.embedding, arch)
