"""Predict a library with every kept model of a molecules entry (several replicates: mean and standard deviation)."""

import torch

from dlbio.apply.molecules import load_molecule_model, predict_library
from dlbio.data.molecules.reading import library_path
from dlbio.device import resolve_device
from dlbio.io import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, entry, key = snakemake.output, snakemake.params.entry, f"molecules.{snakemake.wildcards.dataset}.predict"
device = resolve_device(snakemake.params.device)
models = {
    name: [load_molecule_model(path, device, arch=name) for path in snakemake.input[name]]
    for name in snakemake.params.models
}
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
)
