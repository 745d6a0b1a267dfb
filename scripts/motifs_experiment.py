"""The seeds' mode-collapse experiment: the algorithms' rows beside the training set's; table, figure, headline."""

import logging

from dlbio.evaluate.summary import motif_rows, write_headline
from dlbio.io import log_to, read_json, write_json
from dlbio.train.motif_gan import experiment_table, flat_counts, plot_proportions, summary

log_to(snakemake.log[0])
out, name, entry = snakemake.output, snakemake.wildcards.experiment, snakemake.params.entry
motifs = [mode["motif"] for mode in entry["modes"]]
rows = {algorithm: read_json(path) for algorithm, path in zip(snakemake.params.algorithms, snakemake.input.rows)}
table = experiment_table(name, entry, rows)
table.to_csv(out.table, sep="\t", index=False)
write_json(flat_counts(table, motifs), out.counts)
write_headline(motif_rows(name, table), out.headline)
plot_proportions(table, motifs, out.figure, f"{name}: generated vs training sequences (dashed: training)")
for line in summary(table, motifs):
    print(line)
    logging.info(line)
