import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.resources import Resources

from dlbio.data.molecule_library import check_library, library_spec
from dlbio.data.motifs import check_experiment as check_motif_experiment
from dlbio.errors import InputError, require_file
from dlbio.models.registry import (
    CELL_BASELINE,
    CELL_GNNS,
    MOLECULE_BASELINE,
    MOLECULE_MODELS,
)
from dlbio.resources import matrix_megabytes

BUILTIN_PREFIX = "scanpy:"
MOLECULE_BUILTIN_PREFIX = "rdkit:"


wildcard_constraints:
    dataset="[^/]+",
    run="[^/]+",
    replicate="[0-9]+",


TARGETS, HEADLINES = [], []


def declare_results(targets, headlines=()):
    """What a rules file adds to the default target ``all`` (``targets``) and to results/summary.tsv
    (``headlines``: its headline.tsv files, rows of dlbio.evaluate.summary.COLUMNS), in include order.
    """
    TARGETS.extend(targets)
    HEADLINES.extend(headlines)


def route_by_resources():
    """A profile's ``set-resources`` entry named after a resource (``gpu``, ``quick``) applies to every rule
    that declares that resource, below the rule's own entry: a cluster profile routes jobs by what rules need.
    """
    entries = workflow.resource_settings.overwrite_resources
    for step in workflow.rules:
        own = entries.get(step.name, {})
        for resource, settings in entries.items():
            if resource in step.resources and resource != step.name:
                routed = Resources.from_mapping(settings).items()
                step.resources.update(
                    Resources({key: value for key, value in routed if key not in own})
                )


def input_megabytes(input):
    """Megabytes of a job's input files (an .h5ad counts its matrix's size in memory)."""
    return sum(matrix_megabytes(path) for path in input)


def grows_with_input(base, per_mb):
    """A resource (mem_mb or runtime minutes) of ``base + per_mb`` × the job's input megabytes (an .h5ad counts
    its matrix's size in memory), times the attempt: a big input asks for enough on its first attempt.
    """

    def resource(wildcards, input, attempt):
        return math.ceil((base + per_mb * input_megabytes(input)) * attempt)

    return resource


def threads_for_input(megabytes):
    """Threads: 2 for an input of at least ``megabytes`` (an .h5ad counts its matrix's size in memory), else 1,
    so that a small job leaves the other core to the jobs beside it."""

    def threads(wildcards, input):
        return 2 if input_megabytes(input) >= megabytes else 1

    return threads


def entry_keys(section, wildcard, *keys):
    """Params: only ``keys`` of the entry ``config[section][<wildcard>]``, so that a change to any other key
    of the entry reruns nothing."""

    def params(wildcards):
        item = config[section][getattr(wildcards, wildcard)]
        return {key: item[key] for key in keys}

    return params


def cells_gnn_settings(wildcards):
    """The dataset's gnn settings for one model; ``heads`` only for GAT, the one model that reads it."""
    gnn = dict(config["cells"][wildcards.dataset]["gnn"])
    if wildcards.model != "gat":
        del gnn["heads"]
    return gnn


def gan_training_settings(wildcards):
    """A GAN run's entry without what only sampling and export read (a new ``n_samples`` resamples, a new
    ``export`` re-exports, neither retrains)."""
    run = config["gan"][wildcards.run]
    return {
        key: value
        for key, value in run.items()
        if key not in ("dataset", "n_samples", "export")
    }


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
        key = f"molecules.{name}.predict"
        for library in molecule_libraries(name).values():
            check_library(library, key, entry["predict_chunk_size"])
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


def molecules_input(wildcards):
    """The entry's source file (none for a built-in set) and its split.test_file, if any."""
    entry = config["molecules"][wildcards.dataset]
    source, test_file = entry["source"], entry["split"]["test_file"]
    files = [] if source.startswith(MOLECULE_BUILTIN_PREFIX) else [source]
    if test_file:
        require_file(test_file, f"molecules.{wildcards.dataset}.split.test_file")
        files.append(test_file)
    return files


def cells_queries(dataset):
    """Query name (the file's stem, or the built-in's name) → source of every ``query.h5ad`` of a cells entry."""
    sources = config["cells"][dataset]["query"]["h5ad"]
    names = {
        Path(source.removeprefix(BUILTIN_PREFIX)).stem: source for source in sources
    }
    if len(names) < len(sources):
        raise InputError(
            f"config key 'cells.{dataset}.query.h5ad': two query files share a name: {sources}"
        )
    return names


def cells_query_input(wildcards):
    source = cells_queries(wildcards.dataset)[wildcards.query]
    return [] if source.startswith(BUILTIN_PREFIX) else [source]


def cells_query_model_names(dataset):
    return config["cells"][dataset]["models"] + [CELL_BASELINE]


def cells_query_models(wildcards):
    """Replicate 0 of every model of the dataset, in the order of ``cells_query_model_names``."""
    return [files[0] for files in replicate_models("cells")(wildcards).values()]


def cells_query_settings(wildcards):
    """The entry's query settings, ``input`` resolved (null: as the reference's ``preprocess.input``), and its seed."""
    entry = config["cells"][wildcards.dataset]
    query = {key: value for key, value in entry["query"].items() if key != "h5ad"}
    return query | {
        "input": query["input"] or entry["preprocess"]["input"],
        "seed": entry["seed"],
    }


BASELINES = {"cells": CELL_BASELINE, "molecules": MOLECULE_BASELINE}


def replicate_results(section, filename):
    """Input function: ``filename`` of every replicate of every model and of the baseline of a dataset."""

    def files(wildcards):
        entry = config[section][wildcards.dataset]
        return expand(
            "results/{section}/{dataset}/{model}/rep{replicate}/{filename}",
            section=section,
            dataset=wildcards.dataset,
            model=entry["models"] + [BASELINES[section]],
            replicate=range(entry["replicates"]),
            filename=filename,
        )

    return files


def replicate_settings(section):
    """Params of one replicate: its index, its seed (the entry's seed + index) and, with ``resplit``, the split
    settings it draws its own split with (else None: the prepared split). The number of replicates is not
    among them, so adding replicates trains only the new ones."""

    def params(wildcards):
        entry, index = config[section][wildcards.dataset], int(wildcards.replicate)
        split = entry["split"] if entry["resplit"] else None
        return {"index": index, "seed": entry["seed"] + index, "split": split}

    return params


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


def gan_scoring(run):
    """What the run's evaluation (when enabled) and the image augmentation experiments on it need of its
    tiles, checked before it trains. Rules take it as a param derived from their input (a function of
    ``input``), which Snakemake does not record: a changed evaluation or experiment never retrains.
    """
    evaluation = config["evaluation"]
    return {
        "arch": config["gan"][run]["arch"],
        "classes": config["gan"][run]["classes"],
        "evaluation": (
            {key: evaluation[key] for key in ("nearest_k", "n_generated")}
            if evaluation["enabled"]
            else None
        ),
        "augment_fractions": {
            name: experiment["fractions"]
            for name, experiment in config["augment_images"].items()
            if experiment["gan_run"] == run
        },
    }


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
    experiment = augment_images_experiment(wildcards)
    return expand(
        "results/augment/images/{experiment}/runs/fraction{fraction}_seed{seed}.tsv",
        experiment=wildcards.experiment,
        fraction=map(str, experiment["fractions"]),
        seed=experiment["seeds"],
    )


def replicate_models(section):
    """Input function: ``{model: its model file in every replicate}`` of a dataset, its baseline included
    (GNNs ``model.pt``, the baseline ``model.npz``)."""

    def files(wildcards):
        entry, baseline = config[section][wildcards.dataset], BASELINES[section]
        return {
            model: expand(
                "results/{section}/{dataset}/{model}/rep{replicate}/model.{suffix}",
                section=section,
                dataset=wildcards.dataset,
                model=model,
                replicate=range(entry["replicates"]),
                suffix="npz" if model == baseline else "pt",
            )
            for model in entry["models"] + [baseline]
        }

    return files


def molecule_libraries(dataset):
    """``{library: spec}`` of ``molecules.<dataset>.predict`` (dlbio.data.molecule_library.library_spec: the
    file or rdkit:<name> and its columns), named by the file's stem (a built-in's name); a missing file or two
    libraries of one name stop the workflow naming the key.
    """
    key, libraries = f"molecules.{dataset}.predict", {}
    entry = config["molecules"][dataset]
    for item in entry["predict"]:
        spec = library_spec(item, entry)
        source = spec["source"]
        if source.startswith(MOLECULE_BUILTIN_PREFIX):
            name = source[len(MOLECULE_BUILTIN_PREFIX) :]
        else:
            require_file(source, key)
            name = Path(source).stem
        if name in libraries:
            raise InputError(
                f"config key '{key}': '{libraries[name]['source']}' and '{source}' are both named '{name}' "
                f"(results/molecules/{dataset}/predict/{name}/); rename one of the files"
            )
        libraries[name] = spec
    return libraries


def molecule_library(wildcards):
    """The ``predict`` item (its spec: a file or ``rdkit:<name>`` and its columns) of ``wildcards.library``."""
    libraries = molecule_libraries(wildcards.dataset)
    if wildcards.library not in libraries:
        raise InputError(
            f"'{wildcards.library}' is not a library of config key 'molecules.{wildcards.dataset}.predict'; "
            f"known: {', '.join(libraries) or 'none'}"
        )
    return libraries[wildcards.library]


def molecule_library_input(wildcards):
    source = molecule_library(wildcards)["source"]
    return [] if source.startswith(MOLECULE_BUILTIN_PREFIX) else [source]


def images_classify_sets(dataset):
    """``images.<dataset>.classify``, each set checked: exactly one of folder, manifest, split; files exist."""
    sets = config["images"][dataset]["classify"]
    for name, spec in sets.items():
        key = f"images.{dataset}.classify.{name}"
        given = [k for k in ("folder", "manifest", "split") if spec[k] is not None]
        if len(given) != 1:
            raise InputError(
                f"config key '{key}': give exactly one of folder, manifest or split; "
                f"given: {', '.join(given) or 'none'}"
            )
        if spec["manifest"]:
            require_file(spec["manifest"], f"{key}.manifest")
        if spec["folder"] and not Path(spec["folder"]).is_dir():
            raise InputError(
                f"config key '{key}.folder': folder '{spec['folder']}' does not exist"
            )
    return sets


def images_classify_input(wildcards):
    """The dataset's tile classifier and the set's images: its folder, its manifest or the dataset's manifest."""
    dataset = wildcards.dataset
    spec = images_classify_sets(dataset)[wildcards.set]
    return {
        "classifier": f"results/images/{dataset}/classifier/model.pt",
        "images": spec["folder"]
        or spec["manifest"]
        or f"results/images/{dataset}/manifest.tsv",
    }


def gan_exports():
    """The runs with ``export.n`` > 0."""
    return [run for run, entry in config["gan"].items() if entry["export"]["n"] > 0]


def report_arguments():
    """The command line without ``--report [FILE]`` when it asks for a report of the results as they are."""
    args = sys.argv[1:]
    if "--report-after-run" in args:
        return None
    for i, arg in enumerate(args):
        if arg.startswith("--report="):
            return args[:i] + args[i + 1 :]
        if arg == "--report":
            has_file = i + 1 < len(args) and not args[i + 1].startswith("-")
            return args[:i] + args[i + 1 + has_file :]
    return None


def check_report_is_current():
    """``--report`` embeds the files as they are: refuse while a job of this config would still (re)run, so a
    report never shows another config's tables or results made with other settings."""
    args = report_arguments()
    if args is None:
        return
    dry_run = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--dry-run"],
        capture_output=True,
        text=True,
    )
    if dry_run.returncode != 0 or "Nothing to be done" not in dry_run.stdout:
        stats = dry_run.stdout.partition("Job stats:")[2].partition("Reasons:")[0]
        raise InputError(
            "the results are not those of this config (another config's, or older settings); "
            f"run the workflow with the same config first, then --report. Jobs that would run:{stats or dry_run.stderr}"
        )


check_inputs()
check_report_is_current()
