"""Gather an image augmentation experiment's runs: runs.tsv, summary (mean ± std, paired differences), figure,
headline."""

import pandas as pd

from dlbio.augment.images import log_verdicts, plot_summary, summarize, summary_record
from dlbio.evaluate.summary import augment_images_rows, write_headline
from dlbio.io import log_to, write_json

log_to(snakemake.log[0])
out, entry, name = snakemake.output, snakemake.params.entry, snakemake.wildcards.experiment
runs = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input], ignore_index=True)
runs = runs.sort_values(["fraction", "seed", "arm"], ignore_index=True)
summary = summarize(runs)
log_verdicts(summary)
runs.round(4).to_csv(out.runs, sep="\t", index=False)
summary.round(4).to_csv(out.summary, sep="\t", index=False)
write_json(summary_record(summary, name, entry["gan_run"], entry["synthetic_ratio"]), out.json)
write_headline(augment_images_rows(name, summary.round(4)), out.headline)
plot_summary(
    summary, out.figure, f"augment_images.{name}: real vs real + synthetic tiles of gan run '{entry['gan_run']}'"
)
