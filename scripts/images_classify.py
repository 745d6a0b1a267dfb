"""Class, calibrated confidence and conformal prediction set of new images (a folder, a manifest or a split of the
dataset) by its tile classifier."""

import pandas as pd
import torch

from dlbio.apply.images import classify_images, list_new_images
from dlbio.device import resolve_device
from dlbio.io import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
images, dataset = snakemake.params.images, snakemake.wildcards.dataset
if images["split"]:  # the dataset's own images of that split, listed by its prepared manifest
    prepared = pd.read_csv(snakemake.input.images, sep="\t", dtype=str, keep_default_na=False)
    paths = prepared.loc[prepared["split"] == images["split"], "path"].tolist()
else:
    paths = list_new_images(images["folder"], images["manifest"])
device = resolve_device(snakemake.params.device)
table = classify_images(
    paths,
    snakemake.input.classifier,
    snakemake.params.entry,
    device,
    snakemake.params.entry["set_level"],
    threads=snakemake.threads,
    key_prefix=f"images.{dataset}.",
)
table.to_csv(snakemake.output.predictions, sep="\t", index=False, float_format="%.6g")
