"""Benchmark labelling a new donor: embeddings side by side on a simulated multi-donor atlas, with scvi-tools' own
scANVI classifier as the anchor.

Run from the repository root (idle machine; 20k cells with 80 scVI epochs take about an hour on 2 cores):

    .venv/bin/python benchmarks/integration.py --cells 20000 [100000] [--scvi-epochs 80] [--models sage]

Data: ``dlbio.data.simulate_cells.simulate_atlas`` (2,000 genes, 4 donors with gene-wise scaling and log-normal
library sizes, 8 types in sibling pairs told apart by 20 weak markers). ``donor3`` is the new donor. For every
embedding (PCA, PCA + Harmony, autoencoder, scVI, scANVI; 1,000 HVGs per donor) the real workflow prepares and
trains (``--models`` and the logistic baseline) on four references:

- ``random``: all donors, random stratified split: the scIB metrics of the embedding and the accuracy on the test
  cells of donor3 (the same donor as below, but seen in training);
- ``donor``: donors 0-2; donor3 is a query mapped into the reference (surgery for scVI/scANVI, the stored map for
  PCA and autoencoder). Harmony cannot map queries: there donor3 is the dataset's held-out test donor
  (``split.method: obs``), integrated together with the reference, and the novel-type rows stay empty;
- ``novel``: donors 0-2 without type6 and type7 (a sibling pair: an unseen type with no near-twin), query donor3;
- ``sibling``: donors 0-2 without type6 (its sibling type7 stays), query donor3.

Printed: per embedding the scIB metrics (bio conservation, batch correction, total), the held-out-donor accuracy
of every model (its top class, as a test split is scored, and with unassigned cells counted wrong) beside the
random split's on the same donor's cells, the unassigned rule's share of novel and of known-type cells flagged,
and per job wall seconds and peak memory (Snakemake's benchmark files). The anchor row is scvi-tools' own scANVI
classifier (``SCANVI.predict``) on donor3 after surgery of the ``donor`` reference's scANVI model.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
EMBEDDINGS = {
    "pca": {},
    "harmony": {"integration": "harmony"},
    "autoencoder": {"embedding": "autoencoder"},
    "scvi": {"embedding": "scvi"},
    "scanvi": {"embedding": "scanvi"},
}
QUERY = "donor3"
REFERENCES = {"random": [], "donor": [], "novel": ["type6", "type7"], "sibling": ["type6"]}


def write_data(n, workdir):
    """The atlas of ``n`` cells and its parts as .h5ad files in ``workdir`` (written once)."""
    from dlbio.data.simulate_cells import simulate_atlas

    paths = {name: workdir / f"{name}_{n}.h5ad" for name in [*REFERENCES, "query"]}
    if all(path.exists() for path in paths.values()):
        return paths
    atlas = simulate_atlas(n, seed=0)
    donor = atlas.obs["donor"].astype(str) == QUERY
    parts = {"random": atlas, "query": atlas[donor]}
    for name, types in REFERENCES.items():
        if name != "random":
            parts[name] = atlas[~donor & ~atlas.obs["cell_type"].astype(str).isin(types)]
    for name, part in parts.items():
        part.copy().write_h5ad(paths[name])
    return paths


def entries(paths, args):
    """Config entries: one per embedding × reference."""
    datasets = {}
    for embedding, change in EMBEDDINGS.items():
        if embedding not in args.embeddings:
            continue
        preprocess = {"n_top_genes": 1000} | change
        if embedding in ("scvi", "scanvi"):
            preprocess["scvi"] = {"max_epochs": args.scvi_epochs}
        for reference in REFERENCES:
            if embedding == "harmony" and reference in ("novel", "sibling"):
                continue  # Harmony maps no query
            entry = {
                "h5ad": str(paths[reference]),
                "label_key": "cell_type",
                "batch_key": "donor",
                "preprocess": preprocess,
                "graph": {"method": "approximate" if args.approximate else "exact"},
                "models": args.models,
                "gnn": {"batch_size": 1024, "max_epochs": 50, "patience": 8},
            }
            if reference != "random":
                entry["query"] = {"h5ad": [str(paths["query"])], "label_key": "cell_type", "input": "counts"}
            if reference == "donor" and embedding == "harmony":  # no query mapping: donor3 held out in the data
                entry["h5ad"] = str(paths["random"])
                entry["split"] = {"method": "obs", "column": "donor", "test": [QUERY]}
                del entry["query"]
            datasets[f"{embedding}_{reference}"] = entry
    return datasets


def run_workflow(workdir, datasets):
    """Run the workflow on ``datasets``; returns its wall seconds."""
    (workdir / "config.yaml").write_text(yaml.safe_dump({"cells": datasets}))
    targets = [f"results/cells/{name}/{table}.tsv" for name in datasets for table in ("comparison", "integration")]
    targets += [
        f"results/cells/{name}/query/{Path(entry['query']['h5ad'][0]).stem}/metrics.tsv"
        for name, entry in datasets.items()
        if "query" in entry
    ]
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", "config.yaml", "--cores", "2", "--resources", "gpu=1", "--keep-going"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=False, cwd=workdir)
    return time.perf_counter() - start


def query_scores(workdir, name, query):
    path = workdir / "results/cells" / name / "query" / query / "metrics.tsv"
    return pd.read_csv(path, sep="\t").set_index("model") if path.exists() else None


def test_accuracy_on(workdir, name, model, cells):
    """Accuracy of ``model`` (replicate 0) on the test cells of ``name`` that are in ``cells``."""
    path = workdir / "results/cells" / name / model / "rep0/predictions.tsv"
    if not path.exists():
        return np.nan
    predictions = pd.read_csv(path, sep="\t", dtype={"cell": str})
    test = predictions[(predictions["split"] == "test") & predictions["cell"].isin(cells)]
    return float((test["label"] == test["predicted"]).mean())


def scib_row(workdir, name):
    """The workflow's scIB metrics of a dataset's embedding (``integration.tsv``)."""
    scores = pd.read_csv(workdir / "results/cells" / name / "integration.tsv", sep="\t").iloc[0]
    return {key: scores[key] for key in ("bio_conservation", "batch_correction", "total")}


def anchor(workdir, name, query_path, epochs, train_decoder):
    """scvi-tools' own scANVI classifier on the query after surgery of the workflow's scANVI reference model
    (``train_decoder``: as the workflow's ``query.train_decoder``; ``False``: scvi-tools' default surgery)."""
    from dlbio.data.cell_reference import load_reference
    from dlbio.data.cells import select_genes
    from dlbio.train.scvi_embedding import surgery

    reference = load_reference(workdir / "results/cells" / name / "reference.npz")
    query = ad.read_h5ad(query_path)
    counts = select_genes(query.X, pd.Index(query.var_names), reference["features"])
    start = time.perf_counter()
    model = surgery(reference, counts, query.obs["donor"].astype(str).to_numpy(), epochs, 0, "cpu", train_decoder)
    predicted = np.asarray(model.predict())
    return float((predicted == query.obs["cell_type"].astype(str).to_numpy()).mean()), time.perf_counter() - start


def job_rows(workdir, datasets):
    """Wall seconds and peak memory (GB) of every job, from Snakemake's benchmark files."""
    rows = []
    for path in sorted((workdir / "results/cells").glob("*/**/*benchmark.tsv")):
        measured = pd.read_csv(path, sep="\t").iloc[0]
        job = str(path.relative_to(workdir / "results/cells")).replace("/benchmark.tsv", "")
        rows.append({"job": job, "wall s": measured["s"], "peak GB": measured["max_rss"] / 1024})
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--embeddings", nargs="+", default=list(EMBEDDINGS), choices=list(EMBEDDINGS))
    parser.add_argument("--models", nargs="+", default=["sage"], help="GNNs trained beside the logistic baseline")
    parser.add_argument("--scvi-epochs", type=int, default=None, help="scVI epochs (default: scvi-tools' heuristic)")
    parser.add_argument("--query-epochs", type=int, default=100, help="surgery epochs of the anchor")
    parser.add_argument("--approximate", action="store_true", help="approximate kNN graphs (100k+ cells)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dlbio-integration"))
    parser.add_argument("--tables-only", action="store_true", help="print the tables of runs already in --workdir")
    args = parser.parse_args()
    for n in args.cells:
        workdir = args.workdir / f"run_{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        paths = write_data(n, args.workdir)
        datasets = entries(paths, args)
        wall = float("nan") if args.tables_only else run_workflow(workdir, datasets)
        query_cells = set(ad.read_h5ad(paths["query"], backed="r").obs_names)
        rows = []
        for embedding in args.embeddings:
            row = {"embedding": embedding} | scib_row(workdir, f"{embedding}_random")
            donor = query_scores(workdir, f"{embedding}_donor", "query_" + str(n))
            for model in [*args.models, "logreg"]:
                random = test_accuracy_on(workdir, f"{embedding}_random", model, query_cells)
                if donor is None:
                    held_out = flagged = test_accuracy_on(workdir, f"{embedding}_donor", model, query_cells)
                else:
                    held_out, flagged = donor.loc[model, "top_accuracy"], donor.loc[model, "accuracy"]
                row |= {f"{model} random": random, f"{model} new donor": held_out,
                        f"{model} new donor, unassigned wrong": flagged}  # fmt: skip
            for reference in ("novel", "sibling"):
                scores = query_scores(workdir, f"{embedding}_{reference}", "query_" + str(n))
                if scores is not None:
                    model = args.models[0]
                    row |= {
                        f"{reference} flagged ({model})": scores.loc[model, "novel_flagged"],
                        f"known flagged, {reference} ref ({model})": scores.loc[model, "known_flagged"],
                    }
            rows.append(row)
        table = pd.DataFrame(rows)
        print(f"\n## {n} cells ({wall / 60:.1f} min workflow)\n")
        print(table.set_index("embedding").T.to_markdown(floatfmt=".3f"), flush=True)
        if "scanvi" in args.embeddings:
            for train_decoder in (False, True):
                accuracy, seconds = anchor(workdir, "scanvi_donor", paths["query"], args.query_epochs, train_decoder)
                print(f"\nanchor: scvi-tools' SCANVI.predict on {QUERY} after surgery (decoder's first layer "
                      f"{'trained' if train_decoder else 'frozen'}): accuracy {accuracy:.3f} ({seconds:.0f} s)")  # fmt: skip
        print("\n### Per job\n\n" + job_rows(workdir, datasets).to_markdown(index=False, floatfmt=".3g"), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
