"""Train one molecule GNN on a prepared dataset and evaluate it on the test molecules."""

import torch

from dlbio.data.molecules import load_molecule_dataset
from dlbio.device import resolve_device
from dlbio.evaluate.properties import evaluate_property_predictions
from dlbio.io import log_to
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, entry, arch = snakemake.output, snakemake.params.entry, snakemake.wildcards.model
targets, task = entry["targets"], entry["task"]
graphs, table, y = load_molecule_dataset(snakemake.input.graphs, snakemake.input.table, targets)
device = resolve_device(snakemake.params.device)
model, scaler, history = fit_molecule_model(arch, graphs, table["split"], task, entry["gnn"], device, entry["seed"])
history.to_csv(out.history, sep="\t", index=False)
pred = predict_molecules(model, graphs, scaler, task, device)
evaluate_property_predictions(table, y, pred, targets, task, arch, out.metrics, out.predictions, out.figure)
