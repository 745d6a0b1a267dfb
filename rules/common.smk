# What every rules file needs: the wildcards' shapes, the targets registry, the params helper, the resource helpers
# and the replicate helpers. A rules file's own input functions are lambdas above its rules (`snakemake --lint`
# flags a `def` beside rules); the config checks are src/dlbio/config_checks.py, the parts that rely on Snakemake's
# internals src/dlbio/workflow_internals.py.
import math

from dlbio.models.registry import CELL_BASELINE, MOLECULE_BASELINE
from dlbio.resources import matrix_megabytes


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


def entry_keys(section, wildcard, *keys):
    """Params: only ``keys`` of the entry ``config[section][<wildcard>]``, so that a change to any other key
    of the entry reruns nothing."""

    def params(wildcards):
        item = config[section][getattr(wildcards, wildcard)]
        return {key: item[key] for key in keys}

    return params


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


def replicate_settings(section):
    """Params of one replicate: its index, its seed (the entry's seed + index) and, with ``resplit``, the split
    settings it draws its own split with (else None: the prepared split). The number of replicates is not
    among them, so adding replicates trains only the new ones."""

    def params(wildcards):
        entry, index = config[section][wildcards.dataset], int(wildcards.replicate)
        split = entry["split"] if entry["resplit"] else None
        return {"index": index, "seed": entry["seed"] + index, "split": split}

    return params


def motif_algorithm(wildcards):
    """The experiment's entry with only this job's algorithm and its set overrides, keys sorted, so that tuning
    one algorithm reruns only its job (null overrides, the schema's defaults, change nothing; the order of the
    keys in a config file neither).
    """
    entry = config["motifs"][wildcards.experiment]
    overrides = entry["algorithms"][wildcards.algorithm]
    algorithm = {k: v for k, v in overrides.items() if v is not None}
    return dict(
        sorted((entry | {"algorithms": {wildcards.algorithm: algorithm}}).items())
    )
