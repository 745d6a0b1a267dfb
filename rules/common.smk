from pathlib import Path

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


def all_targets():
    return (
        expand("results/cells/{dataset}/comparison.tsv", dataset=config["cells"])
        + expand(
            "results/molecules/{dataset}/comparison.tsv", dataset=config["molecules"]
        )
        + expand("results/images/{dataset}/montage.png", dataset=config["images"])
        + expand("results/gan/{run}/synthetic_montage.png", run=config["gan"])
    )


check_inputs()
