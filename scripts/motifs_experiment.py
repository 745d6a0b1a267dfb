"""The seeds' mode-collapse experiment: train each algorithm on motif sequences, count motifs, table and figure."""

import logging

import torch

from dlbio.device import resolve_device
from dlbio.io import log_to, write_json
from dlbio.train.motif_gan import flat_counts, plot_proportions, run_experiment, summary

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, name, experiment = snakemake.output, snakemake.wildcards.experiment, snakemake.params.experiment
motifs = [mode["motif"] for mode in experiment["modes"]]
table = run_experiment(name, experiment, resolve_device(snakemake.params.device))
table.to_csv(out.table, sep="\t", index=False)
write_json(flat_counts(table, motifs), out.counts)
plot_proportions(table, motifs, out.figure, f"{name}: generated vs training sequences (dashed: training)")
for line in summary(table, motifs):
    print(line)
    logging.info(line)
