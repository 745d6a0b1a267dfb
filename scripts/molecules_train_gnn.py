"""Train one molecule GNN (one replicate) on a prepared dataset, calibrate a classifier on the validation molecules
and evaluate it on the test molecules."""

import torch

from dlbio.apply.molecules import save_molecule_model
from dlbio.data.molecules import load_molecule_dataset, replicate_split
from dlbio.device import resolve_device
from dlbio.evaluate.properties import evaluate_property_predictions
from dlbio.io import log_to
from dlbio.train.molecule_gnn import fit_molecule_model, predict_molecules

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, entry, replicate, arch = snakemake.output, snakemake.params.entry, snakemake.params.replicate, snakemake.wildcards.model
targets, task = entry["targets"], entry["task"]
graphs, table, y = load_molecule_dataset(snakemake.input.graphs, snakemake.input.table, targets)
table = replicate_split(table, y, replicate, targets, task)
device = resolve_device(snakemake.params.device)
model, scaler, history = fit_molecule_model(arch, graphs, table["split"], task, entry["gnn"], device, replicate["seed"])
history.to_csv(out.history, sep="\t", index=False)
pred = predict_molecules(model, graphs, scaler, task, device)
_, calibrations = evaluate_property_predictions(
    table, y, pred, targets, task, arch, out.metrics, out.predictions, out.figure
)
save_molecule_model(
    out.model, model, scaler, arch, entry["gnn"], task, targets, entry["standardize"], calibrations
)
