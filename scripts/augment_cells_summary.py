"""Gather a rare cell-type augmentation experiment: runs.tsv, summary (mean ± std, paired deltas), figures,
headline."""

import logging

import pandas as pd

from dlbio.augment.cells import headline, paired_deltas, plot_generated, plot_rare_f1, rare_class, summarize, verdicts
from dlbio.data.cells import load_cell_graph
from dlbio.evaluate.summary import augment_cells_rows, write_headline
from dlbio.io import load_tensors, log_to, write_json

log_to(snakemake.log[0])
out, entry, name = snakemake.output, snakemake.params.entry, snakemake.wildcards.experiment
runs = paired_deltas(pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input.runs], ignore_index=True))
summary = summarize(runs)
for line in verdicts(summary):
    logging.info(line)
runs.round(4).to_csv(out.runs, sep="\t", index=False)
summary.round(4).to_csv(out.summary, sep="\t", index=False)
record = headline(runs, summary, name, entry)
write_json(record, out.json)
write_headline(augment_cells_rows(name, record), out.headline)
title = f"{name}: {entry['rare_type']} in {entry['dataset']}"
plot_rare_f1(summary, out.f1_figure, title)
data, _, classes = load_cell_graph(snakemake.input.graph, snakemake.input.cells)
generated = [load_tensors(p) for p in snakemake.input.generated]
panels = [(f, g["generated"].numpy(), g["kept"].numpy()) for f, g in zip(entry["fractions"], generated)]
rare = rare_class(classes, entry["rare_type"], f"augment_cells.{name}.rare_type")
plot_generated(data, rare, panels, out.generated_figure, f"{title}, seed {entry['seeds'][0]}")
