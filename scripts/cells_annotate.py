"""Label one query .h5ad with every trained model of a cell dataset: per-cell table, annotated .h5ad, metrics."""

import numpy as np
import pandas as pd

from dlbio.apply.cells import annotate, load_models, load_query
from dlbio.data.cell_reference import load_reference
from dlbio.data.cells import load_cell_graph
from dlbio.device import resolve_device
from dlbio.io import log_to

log_to(snakemake.log[0])
inp, out, params = snakemake.input, snakemake.output, snakemake.params
settings, key = params.query, f"cells.{snakemake.wildcards.dataset}.query"
device = resolve_device(params.device)
reference = load_reference(inp.reference)
data, _, _ = load_cell_graph(inp.graph, inp.cells)
models = load_models(dict(zip(params.models, inp.models)), reference)
query = load_query(params.source, settings["input"], key=key)
with np.load(inp.markers, allow_pickle=False) as stored:
    markers = {name: stored[name] for name in stored.files}
table, metrics = annotate(
    query,
    reference,
    data,
    models,
    params.source,
    markers,
    declared=settings["input"],
    min_shared_fraction=settings["min_shared_fraction"],
    unassigned_rate=settings["unassigned_rate"],
    label_key=settings["label_key"],
    device=device,
    key=key,
    surgery={
        "max_epochs": settings["max_epochs"],
        "seed": settings["seed"],
        "device": device,
        "train_decoder": settings["train_decoder"],
    },
)
table.to_csv(out.table, sep="\t", index=False)
query.write_h5ad(out.h5ad)
(metrics if metrics is not None else pd.DataFrame(columns=["model"])).to_csv(out.metrics, sep="\t", index=False)
