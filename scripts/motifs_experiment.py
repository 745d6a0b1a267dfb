"""The seeds' mode-collapse experiment: train each algorithm on motif sequences, count motifs; table, figure,
headline."""

import logging

import torch

from dlbio.device import resolve_device
from dlbio.evaluate.summary import motif_rows, write_headline
from dlbio.io import log_to, write_json
from dlbio.train.motif_gan import flat_counts, plot_proportions, run_experiment, summary

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
out, name, entry = snakemake.output, snakemake.wildcards.experiment, snakemake.params.entry
motifs = [mode["motif"] for mode in entry["modes"]]
table = run_experiment(name, entry, resolve_device(snakemake.params.device))
table.to_csv(out.table, sep="\t", index=False)
write_json(flat_counts(table, motifs), out.counts)
write_headline(motif_rows(name, table), out.headline)
plot_proportions(table, motifs, out.figure, f"{name}: generated vs training sequences (dashed: training)")
for line in summary(table, motifs):
    print(line)
    logging.info(line)
