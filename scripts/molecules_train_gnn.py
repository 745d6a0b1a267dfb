"""Train one molecule GNN on a prepared dataset and evaluate it on the test molecules."""

import torch

from dlbio.data.molecules import load_molecule_dataset
from dlbio.device import resolve_device
from dlbio.evaluate.properties import evaluate_property_predictions
from dlbio.io import log_to
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, cfg, arch = snakemake.output, snakemake.params.cfg, snakemake.wildcards.model
graphs, table, y = load_molecule_dataset(snakemake.input.graphs, snakemake.input.table, cfg["targets"])
device = resolve_device(snakemake.params.device)
model, scaler, history = fit_molecule_model(arch, graphs, table["split"], cfg["task"], cfg["gnn"], device, cfg["seed"])
history.to_csv(out.history, sep="\t", index=False)
pred = predict_molecules(model, graphs, scaler, cfg["task"], device)
evaluate_property_predictions(table, y, pred, cfg["targets"], cfg["task"], arch, out.metrics, out.predictions, out.figure)
