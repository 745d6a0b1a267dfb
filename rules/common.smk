from pathlib import Path
from types import SimpleNamespace

from dlbio.data.motifs import check_experiment as check_motif_experiment
from dlbio.errors import InputError, require_file

BUILTIN_PREFIX = "scanpy:"
MOLECULE_BUILTIN_PREFIX = "rdkit:"


wildcard_constraints:
    dataset="[^/]+",
    run="[^/]+",


def check_inputs():
    """Fail before any job starts when a configured input is missing or a run names no dataset."""
    for name, entry in config["cells"].items():
        if not entry["h5ad"].startswith(BUILTIN_PREFIX):
            require_file(entry["h5ad"], f"cells.{name}.h5ad")
    for name, entry in config["images"].items():
        if entry["folder"] and entry["manifest"]:
            raise InputError(
                f"images.{name}: set either 'folder' or 'manifest', not both"
            )
        if entry["manifest"]:
            require_file(entry["manifest"], f"images.{name}.manifest")
        folder = entry["folder"]
        if folder and not any(Path(p).is_dir() for p in (folder, f"{folder}_train")):
            raise InputError(
                f"config key 'images.{name}.folder': folder '{folder}' does not exist"
            )
    for name, entry in config["molecules"].items():
        if not entry["source"].startswith(MOLECULE_BUILTIN_PREFIX):
            require_file(entry["source"], f"molecules.{name}.source")
    for name, run in config["gan"].items():
        if run["dataset"] not in config["images"]:
            raise InputError(
                f"config key 'gan.{name}.dataset': '{run['dataset']}' is not an images entry; "
                f"known: {', '.join(config['images']) or 'none'}"
            )
    for name, experiment in config["augment_cells"].items():
        if experiment["dataset"] not in config["cells"]:
            raise InputError(
                f"config key 'augment_cells.{name}.dataset': '{experiment['dataset']}' is not a cells entry; "
                f"known: {', '.join(config['cells']) or 'none'}"
            )
    for name, experiment in config["motifs"].items():
        check_motif_experiment(experiment, f"motifs.{name}")


def cells_input(wildcards):
    source = config["cells"][wildcards.dataset]["h5ad"]
    return [] if source.startswith(BUILTIN_PREFIX) else [source]


def cells_metrics(wildcards):
    models = config["cells"][wildcards.dataset]["models"] + ["logreg"]
    return expand(
        "results/cells/{dataset}/{model}/metrics.json",
        dataset=wildcards.dataset,
        model=models,
    )


def molecules_input(wildcards):
    source = config["molecules"][wildcards.dataset]["source"]
    return [] if source.startswith(MOLECULE_BUILTIN_PREFIX) else [source]


def molecules_metrics(wildcards):
    models = config["molecules"][wildcards.dataset]["models"] + ["fp_rf"]
    return expand(
        "results/molecules/{dataset}/{model}/metrics.json",
        dataset=wildcards.dataset,
        model=models,
    )


def images_input(wildcards):
    """Simulated folder (a job's output) when the entry names no data, else the manifest if any."""
    entry = config["images"][wildcards.dataset]
    simulated = not (entry["folder"] or entry["manifest"])
    return {
        "simulated": (
            [f"results/images/{wildcards.dataset}/simulated"] if simulated else []
        ),
        "manifest": [entry["manifest"]] if entry["manifest"] else [],
    }


def gan_tiles(wildcards):
    return f"results/images/{config['gan'][wildcards.run]['dataset']}/tiles.npz"


def gan_evaluation_inputs(wildcards):
    """Tiles and tile classifier of the run's dataset, and its simulated folder (ground truth) if simulated."""
    dataset = config["gan"][wildcards.run]["dataset"]
    return {
        "tiles": f"results/images/{dataset}/tiles.npz",
        "classifier": f"results/images/{dataset}/classifier/model.pt",
        "simulated": images_input(SimpleNamespace(dataset=dataset))["simulated"],
    }


def gan_dataset_evaluations(wildcards):
    runs = [
        r for r, run in config["gan"].items() if run["dataset"] == wildcards.dataset
    ]
    return expand("results/gan/{run}/evaluation.json", run=runs)


def gan_evaluation_targets():
    """Evaluation table of every images dataset with GAN runs, when evaluation is enabled."""
    if not config["evaluation"]["enabled"]:
        return []
    datasets = sorted({run["dataset"] for run in config["gan"].values()})
    return expand("results/gan/evaluation_{dataset}.tsv", dataset=datasets)


def augment_cells_experiment(wildcards):
    return config["augment_cells"][wildcards.experiment]


def augment_cells_data(wildcards):
    """The prepared graph and per-cell table of the experiment's cells dataset."""
    dataset = augment_cells_experiment(wildcards)["dataset"]
    return {
        "graph": f"results/cells/{dataset}/graph.pt",
        "cells": f"results/cells/{dataset}/cells.tsv",
    }


def augment_cells_runs(wildcards):
    """Every fraction × seed's table, and the generated cells of each fraction at the first seed."""
    experiment = augment_cells_experiment(wildcards)
    run = "results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}"
    fractions = list(map(str, experiment["fractions"]))
    return {
        "runs": expand(
            f"{run}.tsv",
            experiment=wildcards.experiment,
            fraction=fractions,
            seed=experiment["seeds"],
        ),
        "generated": expand(
            f"{run}.generated.pt",
            experiment=wildcards.experiment,
            fraction=fractions,
            seed=experiment["seeds"][0],
        ),
    }


def augment_images_experiment(wildcards):
    return config["augment_images"][wildcards.experiment]


def augment_images_gan_run(wildcards):
    return augment_images_experiment(wildcards)["gan_run"]


def augment_images_inputs(wildcards):
    """The GAN run's tile store and trained generator."""
    run = augment_images_gan_run(wildcards)
    return {
        "tiles": f"results/images/{config['gan'][run]['dataset']}/tiles.npz",
        "generator": f"results/gan/{run}/generator.pt",
    }


def augment_images_runs(wildcards):
    """One table per configured fraction × seed (fractions as written by str())."""
    cfg = augment_images_experiment(wildcards)
    return expand(
        "results/augment/images/{experiment}/runs/fraction{fraction}_seed{seed}.tsv",
        experiment=wildcards.experiment,
        fraction=map(str, cfg["fractions"]),
        seed=cfg["seeds"],
    )


def summary_names():
    """Names of every dataset, run and experiment whose headline goes into results/summary.tsv."""
    return {
        "cells": list(config["cells"]),
        "molecules": list(config["molecules"]),
        "gan": list(config["gan"]) if config["evaluation"]["enabled"] else [],
        "augment_images": list(config["augment_images"]),
        "augment_cells": list(config["augment_cells"]),
        "motifs": list(config["motifs"]),
    }


def summary_inputs(wildcards):
    names = summary_names()
    return {
        "cells": expand("results/cells/{name}/comparison.tsv", name=names["cells"]),
        "molecules": expand(
            "results/molecules/{name}/comparison.tsv", name=names["molecules"]
        ),
        "gan": expand("results/gan/{name}/evaluation.json", name=names["gan"]),
        "augment_images": expand(
            "results/augment/images/{name}/summary.json", name=names["augment_images"]
        ),
        "augment_cells": expand(
            "results/augment/cells/{name}/summary.json", name=names["augment_cells"]
        ),
        "motifs": expand("results/motifs/{name}/counts.tsv", name=names["motifs"]),
    }


def all_targets():
    return (
        expand("results/cells/{dataset}/comparison.tsv", dataset=config["cells"])
        + expand(
            "results/molecules/{dataset}/comparison.tsv", dataset=config["molecules"]
        )
        + expand("results/images/{dataset}/montage.png", dataset=config["images"])
        + expand("results/gan/{run}/synthetic_montage.png", run=config["gan"])
        + gan_evaluation_targets()
        + expand(
            "results/augment/images/{experiment}/summary.json",
            experiment=config["augment_images"],
        )
        + expand(
            "results/augment/cells/{experiment}/summary.json",
            experiment=config["augment_cells"],
        )
        + expand("results/motifs/{experiment}/counts.tsv", experiment=config["motifs"])
        + ["results/summary.tsv"]
    )


check_inputs()
