"""Train the tile classifier of one images dataset on its training tiles (less the validation tiles it is calibrated
on) and score it on the test tiles."""

import pandas as pd
import torch

from dlbio.data.tiles import load_tile_store
from dlbio.device import resolve_device
from dlbio.evaluate.calibration import plot_reliability
from dlbio.evaluate.classification import evaluate_predictions, reliability_panels
from dlbio.evaluate.feasibility import check_run_can_be_scored
from dlbio.io import log_to
from dlbio.train.tile_classifier import fit_tile_store_classifier, hold_out_validation, save_tile_classifier

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, params, seed = snakemake.output, snakemake.params.classifier, snakemake.params.seed
store = load_tile_store(snakemake.input.tiles)
for run, scoring in snakemake.params.scored_by.items():  # before training: every run on the tiles can be scored
    check_run_can_be_scored(store, scoring, run)
key = "evaluation.classifier.val_fraction"
store["split"] = hold_out_validation(store["labels"], store["split"], params["val_fraction"], seed, key)
device = resolve_device(snakemake.params.device)
model, proba = fit_tile_store_classifier(store, params, device, seed)
tiles = pd.DataFrame({"path": store["paths"], "label": store["classes"][store["labels"]], "split": store["split"]})
table, calibration = evaluate_predictions(
    tiles, proba, store["classes"], "tile classifier", out.metrics, out.predictions, out.confusion
)
save_tile_classifier(model, out.model, store["classes"], calibration)
title = f"{snakemake.wildcards.dataset}: test tiles"
plot_reliability(reliability_panels({"tile classifier": [table]}), out.reliability, title)
