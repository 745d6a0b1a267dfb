from dlbio.config_checks import (
    MOLECULE_BUILTIN_PREFIX,
    local_files,
    molecule_libraries,
    molecule_library,
    molecules_calibrated,
)
from dlbio.models.registry import MOLECULE_BASELINE, MOLECULE_MODELS

# Input functions of the rules below.
# The entry's source file (none for a built-in set) and its split.test_file, if any.
molecules_input = lambda wildcards: local_files(
    config["molecules"][wildcards.dataset]["source"], MOLECULE_BUILTIN_PREFIX
) + list(filter(None, [config["molecules"][wildcards.dataset]["split"]["test_file"]]))
# The `predict` item (its spec: a file or `rdkit:<name>` and its columns) of the job's library.
molecules_library = lambda wildcards: molecule_library(
    config, wildcards.dataset, wildcards.library
)
# A regression entry with an interval_level: its validation-size check, which training waits for (ancient: a new
# level reruns the check, never training; molecules_calibrate reads the check too, so a new level reruns it), and
# its conformal interval calibration.
molecules_interval_check = lambda wildcards: (
    {
        "interval_check": ancient(
            f"results/molecules/{wildcards.dataset}/intervals_check.tsv"
        )
    }
    if molecules_calibrated(config, wildcards.dataset)
    else {}
)
molecules_intervals = lambda wildcards: (
    {"intervals": f"results/molecules/{wildcards.dataset}/intervals.tsv"}
    if molecules_calibrated(config, wildcards.dataset)
    else {}
)


rule molecules_prepare:
    input:
        molecules_input,
    output:
        graphs="results/molecules/{dataset}/graphs.pt",
        table="results/molecules/{dataset}/molecules.tsv",
        rejected="results/molecules/{dataset}/rejected.tsv",
    log:
        "logs/molecules/{dataset}/prepare.log",
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys(
            "molecules",
            "dataset",
            "source",
            "smiles_column",
            "id_column",
            "targets",
            "task",
            "threshold",
            "standardize",
            "duplicates",
            "max_rejected_fraction",
            "seed",
            "split",
        ),
    script:
        "../scripts/molecules_prepare.py"


rule molecules_check_intervals:
    input:
        table=rules.molecules_prepare.output.table,
    output:
        check="results/molecules/{dataset}/intervals_check.tsv",
    log:
        "logs/molecules/{dataset}/check_intervals.log",
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        entry=entry_keys("molecules", "dataset", "targets", "interval_level"),
    script:
        "../scripts/molecules_check_intervals.py"


rule molecules_train_gnn:
    input:
        unpack(molecules_interval_check),
        graphs=rules.molecules_prepare.output.graphs,
        table=rules.molecules_prepare.output.table,
    output:
        model="results/molecules/{dataset}/{model}/rep{replicate}/model.pt",
        metrics="results/molecules/{dataset}/{model}/rep{replicate}/metrics.json",
        predictions="results/molecules/{dataset}/{model}/rep{replicate}/predictions.tsv",
        history="results/molecules/{dataset}/{model}/rep{replicate}/history.tsv",
        figure=report(
            "results/molecules/{dataset}/{model}/rep{replicate}/performance.png",
            caption="captions/molecules_performance.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={
                "model": "{model}",
                "replicate": "{replicate}",
                "figure": "test performance",
            },
        ),
    log:
        "logs/molecules/{dataset}/{model}/rep{replicate}.log",
    benchmark:
        "results/molecules/{dataset}/{model}/rep{replicate}/benchmark.tsv"
    wildcard_constraints:
        model="|".join(MOLECULE_MODELS),
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        entry=entry_keys(
            "molecules", "dataset", "targets", "task", "gnn", "standardize"
        ),
        replicate=replicate_settings("molecules"),
        device=config["device"],
    script:
        "../scripts/molecules_train_gnn.py"


rule molecules_baseline:
    input:
        unpack(molecules_interval_check),
        graphs=rules.molecules_prepare.output.graphs,
        table=rules.molecules_prepare.output.table,
    output:
        model="results/molecules/{dataset}/{model}/rep{replicate}/model.npz",
        metrics="results/molecules/{dataset}/{model}/rep{replicate}/metrics.json",
        predictions="results/molecules/{dataset}/{model}/rep{replicate}/predictions.tsv",
        figure=report(
            "results/molecules/{dataset}/{model}/rep{replicate}/performance.png",
            caption="captions/molecules_performance.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={
                "model": "{model}",
                "replicate": "{replicate}",
                "figure": "test performance",
            },
        ),
    log:
        "logs/molecules/{dataset}/{model}/rep{replicate}.log",
    wildcard_constraints:
        model=MOLECULE_BASELINE,
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys(
            "molecules", "dataset", "targets", "task", "baseline", "standardize"
        ),
        replicate=replicate_settings("molecules"),
    script:
        "../scripts/molecules_baseline.py"


rule molecules_calibrate:
    input:
        check=rules.molecules_check_intervals.output.check,
        predictions=replicate_results("molecules", "predictions.tsv"),
    output:
        table=report(
            "results/molecules/{dataset}/intervals.tsv",
            caption="captions/molecules_intervals.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "conformal intervals"},
        ),
        metrics="results/molecules/{dataset}/intervals.json",
    log:
        "logs/molecules/{dataset}/calibrate.log",
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        entry=entry_keys("molecules", "dataset", "targets", "interval_level", "resplit"),
    script:
        "../scripts/molecules_calibrate.py"


rule molecules_compare:
    input:
        unpack(molecules_intervals),
        metrics=replicate_results("molecules", "metrics.json"),
        predictions=replicate_results("molecules", "predictions.tsv"),
    output:
        table=report(
            "results/molecules/{dataset}/comparison.tsv",
            caption="captions/molecules_comparison.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "comparison table"},
        ),
        figure=report(
            "results/molecules/{dataset}/comparison.png",
            caption="captions/molecules_comparison.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "comparison"},
        ),
        applicability=report(
            "results/molecules/{dataset}/applicability.png",
            caption="captions/molecules_applicability.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "error against similarity"},
        ),
        applicability_table="results/molecules/{dataset}/applicability.tsv",
        headline="results/molecules/{dataset}/headline.tsv",
    log:
        "logs/molecules/{dataset}/compare.log",
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        entry=entry_keys(
            "molecules", "dataset", "targets", "task", "resplit", "baseline"
        ),
    script:
        "../scripts/molecules_compare.py"


declare_results(
    expand(rules.molecules_compare.output.table, dataset=config["molecules"]),
    expand(rules.molecules_compare.output.headline, dataset=config["molecules"]),
)


rule molecules_reliability:
    input:
        predictions=replicate_results("molecules", "predictions.tsv"),
    output:
        report(
            "results/molecules/{dataset}/reliability.png",
            caption="captions/molecules_reliability.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "reliability diagram"},
        ),
    log:
        "logs/molecules/{dataset}/reliability.log",
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        entry=entry_keys("molecules", "dataset", "targets"),
    script:
        "../scripts/molecules_reliability.py"


declare_results(
    [
        f"results/molecules/{dataset}/reliability.png"
        for dataset, entry in config["molecules"].items()
        if entry["task"] == "classification"
    ]
)


rule molecules_predict:
    input:
        unpack(replicate_models("molecules")),
        unpack(molecules_intervals),
        table=rules.molecules_prepare.output.table,
        library=lambda wildcards: local_files(
            molecules_library(wildcards)["source"], MOLECULE_BUILTIN_PREFIX
        ),
    output:
        predictions="results/molecules/{dataset}/predict/{library}/predictions.tsv",
        rejected="results/molecules/{dataset}/predict/{library}/rejected.tsv",
    log:
        "logs/molecules/{dataset}/predict/{library}.log",
    wildcard_constraints:
        library="[^/]+",
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        entry=entry_keys(
            "molecules",
            "dataset",
            "predict_chunk_size",
            "resplit",
            "baseline",
            "set_level",
        ),
        models=lambda wildcards: config["molecules"][wildcards.dataset]["models"]
        + [MOLECULE_BASELINE],
        library=molecules_library,
        device=config["device"],
    script:
        "../scripts/molecules_predict.py"


declare_results(
    [
        f"results/molecules/{dataset}/predict/{library}/predictions.tsv"
        for dataset in config["molecules"]
        for library in molecule_libraries(config, dataset)
    ]
)
