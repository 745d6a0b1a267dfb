"""Predict a library with every kept model of a molecules entry (several replicates: mean and standard deviation),
with conformal intervals where calibrated, classifiers' conformal prediction sets and each molecule's nearest training
molecule."""

import torch

from dlbio.apply.molecules import TrainingSet, load_molecule_model, predict_library
from dlbio.data.molecules.reading import library_path
from dlbio.device import resolve_device
from dlbio.evaluate.molecule_intervals import read_calibration
from dlbio.io import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, entry, key = snakemake.output, snakemake.params.entry, f"molecules.{snakemake.wildcards.dataset}.predict"
device = resolve_device(snakemake.params.device)
models = {
    name: [load_molecule_model(path, device, arch=name) for path in snakemake.input[name]]
    for name in snakemake.params.models
}
calibrations = None
if "intervals" in snakemake.input.keys():
    calibrations = read_calibration(snakemake.input.intervals, {name: len(m) for name, m in models.items()})
fp = entry["baseline"]
training = TrainingSet.from_table(snakemake.input.table, fp["radius"], fp["n_bits"], entry["resplit"])
library = snakemake.params.library  # dlbio.data.molecule_library.library_spec
predict_library(
    library_path(library["source"], key),
    library["smiles_column"],
    library["id_column"],
    models,
    out.predictions,
    out.rejected,
    entry["predict_chunk_size"],
    snakemake.threads,
    key,
    library["id_required"],
    calibrations,
    training,
    entry["set_level"],
)
