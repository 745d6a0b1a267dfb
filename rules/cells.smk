rule cells_prepare:
    input:
        cells_input,
    output:
        graph="results/cells/{dataset}/graph.pt",
        cells="results/cells/{dataset}/cells.tsv",
    log:
        "logs/cells/{dataset}/prepare.log",
    benchmark:
        "results/cells/{dataset}/prepare.benchmark.tsv"
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys(
            "cells",
            "dataset",
            "h5ad",
            "label_key",
            "seed",
            "preprocess",
            "graph",
            "split",
        ),
    script:
        "../scripts/cells_prepare.py"


rule cells_train_gnn:
    input:
        graph=rules.cells_prepare.output.graph,
        cells=rules.cells_prepare.output.cells,
    output:
        metrics="results/cells/{dataset}/{model}/metrics.json",
        predictions="results/cells/{dataset}/{model}/predictions.tsv",
        history="results/cells/{dataset}/{model}/history.tsv",
        confusion=report(
            "results/cells/{dataset}/{model}/confusion.png",
            caption="captions/cells_confusion.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "confusion matrix"},
        ),
        embedding=report(
            "results/cells/{dataset}/{model}/embedding.png",
            caption="captions/cells_embedding.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "hidden-layer embedding"},
        ),
    log:
        "logs/cells/{dataset}/{model}.log",
    benchmark:
        "results/cells/{dataset}/{model}/benchmark.tsv"
    wildcard_constraints:
        model="|".join(CELL_GNNS),
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        gnn=cells_gnn_settings,
        seed=lambda wildcards: config["cells"][wildcards.dataset]["seed"],
        device=config["device"],
    script:
        "../scripts/cells_train_gnn.py"


rule cells_baseline:
    input:
        graph=rules.cells_prepare.output.graph,
        cells=rules.cells_prepare.output.cells,
    output:
        metrics="results/cells/{dataset}/{model}/metrics.json",
        predictions="results/cells/{dataset}/{model}/predictions.tsv",
        confusion=report(
            "results/cells/{dataset}/{model}/confusion.png",
            caption="captions/cells_confusion.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "confusion matrix"},
        ),
    log:
        "logs/cells/{dataset}/{model}.log",
    wildcard_constraints:
        model=CELL_BASELINE,
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    params:
        entry=entry_keys("cells", "dataset", "baseline", "seed"),
    script:
        "../scripts/cells_baseline.py"


rule cells_compare:
    input:
        metrics=cells_metrics,
    output:
        table=report(
            "results/cells/{dataset}/comparison.tsv",
            caption="captions/cells_comparison.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "comparison table"},
        ),
        figure=report(
            "results/cells/{dataset}/comparison.png",
            caption="captions/cells_comparison.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "comparison"},
        ),
        headline="results/cells/{dataset}/headline.tsv",
    log:
        "logs/cells/{dataset}/compare.log",
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    script:
        "../scripts/cells_compare.py"


declare_results(
    expand(rules.cells_compare.output.table, dataset=config["cells"]),
    expand(rules.cells_compare.output.headline, dataset=config["cells"]),
)
