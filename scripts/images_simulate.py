"""Write simulated LIN-like cells as TIFF files in a lab's folder layout (+ latent.tsv)."""

from dlbio.data.simulate_lin import simulate_lin
from dlbio.io import log_to

log_to(snakemake.log[0])
cfg = snakemake.params.cfg
simulate_lin(snakemake.output[0], cfg["simulate"]["n_per_class"], tuple(cfg["size"]), cfg["simulate"]["seed"])
