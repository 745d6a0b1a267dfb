"""Write simulated LIN-like cells as TIFF files in a lab's folder layout (+ latent.tsv)."""

from dlbio.data.simulate_lin import simulate_lin
from dlbio.io import log_to

log_to(snakemake.log[0])
entry = snakemake.params.entry
simulate_lin(snakemake.output[0], entry["simulate"]["n_per_class"], tuple(entry["size"]), entry["simulate"]["seed"])
