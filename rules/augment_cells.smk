# Input functions and params of the rules below.
augment_cells_experiment = lambda wildcards: config["augment_cells"][
    wildcards.experiment
]
# The prepared graph and per-cell table of the experiment's cells dataset.
augment_cells_data = lambda wildcards: {
    "graph": f"results/cells/{augment_cells_experiment(wildcards)['dataset']}/graph.pt",
    "cells": f"results/cells/{augment_cells_experiment(wildcards)['dataset']}/cells.tsv",
}
# Every fraction × seed's table, and the generated cells of each fraction at the first seed.
augment_cells_runs = lambda wildcards: {
    "runs": expand(
        "results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}.tsv",
        experiment=wildcards.experiment,
        fraction=map(str, augment_cells_experiment(wildcards)["fractions"]),
        seed=augment_cells_experiment(wildcards)["seeds"],
    ),
    "generated": expand(
        "results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}.generated.pt",
        experiment=wildcards.experiment,
        fraction=map(str, augment_cells_experiment(wildcards)["fractions"]),
        seed=augment_cells_experiment(wildcards)["seeds"][0],
    ),
}


rule augment_cells_run:
    input:
        unpack(augment_cells_data),
    output:
        runs="results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}.tsv",
        generated="results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}.generated.pt",
        losses="results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}.gan_losses.tsv",
    log:
        "logs/augment/cells/{experiment}/fraction{fraction}_seed{seed}.log",
    benchmark:
        "results/augment/cells/{experiment}/runs/fraction{fraction}_seed{seed}.benchmark.tsv"
    wildcard_constraints:
        experiment="[^/]+",
        fraction=r"[0-9.e+-]+",
        seed=r"[0-9]+",
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        entry=entry_keys(
            "augment_cells",
            "experiment",
            "rare_type",
            "target",
            "models",
            "gnn",
            "baseline",
            "gan",
        ),
        graph=lambda wildcards: config["cells"][
            augment_cells_experiment(wildcards)["dataset"]
        ]["graph"],
        fraction=lambda wildcards: float(wildcards.fraction),
        seed=lambda wildcards: int(wildcards.seed),
        device=config["device"],
    script:
        "../scripts/augment_cells_run.py"


rule augment_cells_summary:
    input:
        unpack(augment_cells_data),
        unpack(augment_cells_runs),
    output:
        runs=report(
            "results/augment/cells/{experiment}/runs.tsv",
            caption="captions/augment_cells_runs.rst",
            category="Augmentation",
            subcategory="cells: {experiment}",
            labels={"result": "runs table"},
        ),
        summary=report(
            "results/augment/cells/{experiment}/summary.tsv",
            caption="captions/augment_cells_summary.rst",
            category="Augmentation",
            subcategory="cells: {experiment}",
            labels={"result": "summary table"},
        ),
        json=report(
            "results/augment/cells/{experiment}/summary.json",
            caption="captions/augment_cells_summary.rst",
            category="Augmentation",
            subcategory="cells: {experiment}",
            labels={"result": "summary (JSON)"},
        ),
        headline="results/augment/cells/{experiment}/headline.tsv",
        f1_figure=report(
            "results/augment/cells/{experiment}/rare_f1.png",
            caption="captions/augment_cells_f1.rst",
            category="Augmentation",
            subcategory="cells: {experiment}",
            labels={"result": "rare-type F1 per fraction"},
        ),
        generated_figure=report(
            "results/augment/cells/{experiment}/generated.png",
            caption="captions/augment_cells_generated.rst",
            category="Augmentation",
            subcategory="cells: {experiment}",
            labels={"result": "real vs generated cells"},
        ),
    log:
        "logs/augment/cells/{experiment}/summary.log",
    wildcard_constraints:
        experiment="[^/]+",
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        entry=entry_keys(
            "augment_cells", "experiment", "dataset", "rare_type", "fractions", "seeds"
        ),
    script:
        "../scripts/augment_cells_summary.py"


declare_results(
    expand(rules.augment_cells_summary.output.json, experiment=config["augment_cells"]),
    expand(
        rules.augment_cells_summary.output.headline, experiment=config["augment_cells"]
    ),
)
