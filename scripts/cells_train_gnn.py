"""Train one GNN node classifier (one replicate) on a prepared cell graph, calibrate it on the validation cells and
evaluate it on the test cells."""

import torch

from dlbio.data.cells import load_cell_graph, replicate_split
from dlbio.device import resolve_device
from dlbio.evaluate.classification import evaluate_predictions, plot_embedding
from dlbio.io import log_to
from dlbio.train.cell_gnn import fit_node_classifier, predict_nodes, save_node_classifier

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, params, arch = snakemake.output, snakemake.params, snakemake.wildcards.model
data, cells, classes = replicate_split(*load_cell_graph(snakemake.input.graph, snakemake.input.cells), params.replicate)
device = resolve_device(params.device)
model, history = fit_node_classifier(arch, data, params.gnn, device, params.replicate["seed"])
history.to_csv(out.history, sep="\t", index=False)
proba, hidden = predict_nodes(model, data, device)
table, calibration = evaluate_predictions(cells, proba, classes, arch, out.metrics, out.predictions, out.confusion)
save_node_classifier(model, arch, params.gnn, out.model, calibration.temperature)
plot_embedding(hidden, cells["label"].to_numpy(), table["predicted"].to_numpy(), out.embedding, arch)
