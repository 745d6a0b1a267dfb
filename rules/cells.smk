from dlbio.config_checks import CELLS_BUILTIN_PREFIX, cells_queries, local_files
from dlbio.models.registry import CELL_BASELINE, CELL_GNNS, cell_gnn_settings

# Input functions and params of the rules below.
cells_input = lambda wildcards: local_files(
    config["cells"][wildcards.dataset]["h5ad"], CELLS_BUILTIN_PREFIX
)
# The dataset's gnn settings for one model, without the other models' own settings (GAT's heads).
cells_gnn_settings = lambda wildcards: cell_gnn_settings(
    wildcards.model, config["cells"][wildcards.dataset]["gnn"]
)
cells_query_input = lambda wildcards: local_files(
    cells_queries(config, wildcards.dataset)[wildcards.query], CELLS_BUILTIN_PREFIX
)
cells_query_model_names = lambda wildcards: [
    *config["cells"][wildcards.dataset]["models"],
    CELL_BASELINE,
]
# Replicate 0 of every model of the dataset, in the order of cells_query_model_names.
cells_query_models = lambda wildcards: [
    files[0] for files in replicate_models("cells")(wildcards).values()
]
# An entry's query settings, `input` resolved (null: as the reference's `preprocess.input`), and its seed.
cells_query_settings = lambda entry: {
    **{key: value for key, value in entry["query"].items() if key != "h5ad"},
    "input": entry["query"]["input"] or entry["preprocess"]["input"],
    "seed": entry["seed"],
}


rule cells_prepare:
    input:
        cells_input,
    output:
        graph="results/cells/{dataset}/graph.pt",
        cells="results/cells/{dataset}/cells.tsv",
        reference="results/cells/{dataset}/reference.npz",
        fit="results/cells/{dataset}/embedding_fit.tsv",
        figure=report(
            "results/cells/{dataset}/embedding_fit.png",
            caption="captions/cells_embedding_fit.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "preprocessing", "figure": "embedding fit"},
        ),
    log:
        "logs/cells/{dataset}/prepare.log",
    benchmark:
        "results/cells/{dataset}/prepare.benchmark.tsv"
    conda:
        "../envs/cells.yaml"
    threads: threads_for_input(100)  # kNN search and PCA gain from a 2nd core from ~30k cells
    resources:
        mem_mb=grows_with_input(1500, 2),  # 1M cells' 3.6 GB matrix: 6.4 GB peak (benchmarks/atlas_scale.py)
        runtime=grows_with_input(15, 0.004),
    params:
        entry=entry_keys(
            "cells",
            "dataset",
            "h5ad",
            "label_key",
            "seed",
            "batch_key",
            "preprocess",
            "graph",
            "split",
        ),
        device=config["device"],
    script:
        "../scripts/cells_prepare.py"


rule cells_train_gnn:
    input:
        graph=rules.cells_prepare.output.graph,
        cells=rules.cells_prepare.output.cells,
    output:
        model="results/cells/{dataset}/{model}/rep{replicate}/model.pt",
        metrics="results/cells/{dataset}/{model}/rep{replicate}/metrics.json",
        predictions="results/cells/{dataset}/{model}/rep{replicate}/predictions.tsv",
        history="results/cells/{dataset}/{model}/rep{replicate}/history.tsv",
        confusion=report(
            "results/cells/{dataset}/{model}/rep{replicate}/confusion.png",
            caption="captions/cells_confusion.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={
                "model": "{model}",
                "replicate": "{replicate}",
                "figure": "confusion matrix",
            },
        ),
        embedding=report(
            "results/cells/{dataset}/{model}/rep{replicate}/embedding.png",
            caption="captions/cells_embedding.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={
                "model": "{model}",
                "replicate": "{replicate}",
                "figure": "hidden-layer embedding",
            },
        ),
    log:
        "logs/cells/{dataset}/{model}/rep{replicate}.log",
    benchmark:
        "results/cells/{dataset}/{model}/rep{replicate}/benchmark.tsv"
    wildcard_constraints:
        model="|".join(CELL_GNNS),
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=grows_with_input(3000, 6),
        runtime=grows_with_input(60, 0.1),
    params:
        gnn=cells_gnn_settings,
        replicate=replicate_settings("cells"),
        device=config["device"],
    script:
        "../scripts/cells_train_gnn.py"


rule cells_baseline:
    input:
        graph=rules.cells_prepare.output.graph,
        cells=rules.cells_prepare.output.cells,
    output:
        model="results/cells/{dataset}/{model}/rep{replicate}/model.npz",
        metrics="results/cells/{dataset}/{model}/rep{replicate}/metrics.json",
        predictions="results/cells/{dataset}/{model}/rep{replicate}/predictions.tsv",
        confusion=report(
            "results/cells/{dataset}/{model}/rep{replicate}/confusion.png",
            caption="captions/cells_confusion.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={
                "model": "{model}",
                "replicate": "{replicate}",
                "figure": "confusion matrix",
            },
        ),
    log:
        "logs/cells/{dataset}/{model}/rep{replicate}.log",
    benchmark:
        "results/cells/{dataset}/{model}/rep{replicate}/benchmark.tsv"
    wildcard_constraints:
        model=CELL_BASELINE,
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        mem_mb=grows_with_input(2000, 2),
        runtime=grows_with_input(15, 0.02),
    params:
        baseline=lambda wildcards: config["cells"][wildcards.dataset]["baseline"],
        replicate=replicate_settings("cells"),
    script:
        "../scripts/cells_baseline.py"


rule cells_compare:
    input:
        metrics=replicate_results("cells", "metrics.json"),
        predictions=replicate_results("cells", "predictions.tsv"),
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
        reliability=report(
            "results/cells/{dataset}/reliability.png",
            caption="captions/cells_reliability.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "all", "figure": "reliability diagram"},
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


rule cells_integration:
    input:
        graph=rules.cells_prepare.output.graph,
        cells=rules.cells_prepare.output.cells,
    output:
        report(
            "results/cells/{dataset}/integration.tsv",
            caption="captions/cells_integration.rst",
            category="Single cells",
            subcategory="{dataset}",
            labels={"model": "embedding", "figure": "scIB integration metrics"},
        ),
    log:
        "logs/cells/{dataset}/integration.log",
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=grows_with_input(2000, 2),
        runtime=grows_with_input(10, 0.01),
    params:
        entry=entry_keys("cells", "dataset", "seed"),
    script:
        "../scripts/cells_integration.py"


rule cells_overview:
    input:
        tables=expand(rules.cells_compare.output.table, dataset=config["cells"]),
        references=expand(rules.cells_prepare.output.reference, dataset=config["cells"]),
        integration=expand(rules.cells_integration.output[0], dataset=config["cells"]),
    output:
        report(
            "results/cells/comparison.tsv",
            caption="captions/cells_overview.rst",
            category="Single cells",
            labels={"model": "all", "figure": "every dataset"},
        ),
    log:
        "logs/cells/overview.log",
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        datasets=list(config["cells"]),
        entries={
            name: {
                key: entry[key]
                for key in ("batch_key", "preprocess", "graph", "split")
            }
            for name, entry in config["cells"].items()
        },
    script:
        "../scripts/cells_overview.py"


rule cells_markers:
    input:
        cells_input,
        reference=rules.cells_prepare.output.reference,
        cells=rules.cells_prepare.output.cells,
    output:
        "results/cells/{dataset}/markers.npz",
    log:
        "logs/cells/{dataset}/markers.log",
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        mem_mb=grows_with_input(2000, 4),
        runtime=grows_with_input(10, 0.01),
    params:
        source=lambda wildcards: config["cells"][wildcards.dataset]["h5ad"],
        key=lambda wildcards: f"cells.{wildcards.dataset}.h5ad",
        n_markers=lambda wildcards: config["cells"][wildcards.dataset]["query"][
            "n_markers"
        ],
    script:
        "../scripts/cells_markers.py"


rule cells_annotate:
    input:
        query=cells_query_input,
        reference=rules.cells_prepare.output.reference,
        graph=rules.cells_prepare.output.graph,
        cells=rules.cells_prepare.output.cells,
        markers=rules.cells_markers.output[0],
        models=cells_query_models,
    output:
        table="results/cells/{dataset}/query/{query}/annotations.tsv",
        h5ad="results/cells/{dataset}/query/{query}/annotated.h5ad",
        metrics="results/cells/{dataset}/query/{query}/metrics.tsv",
    log:
        "logs/cells/{dataset}/query/{query}.log",
    benchmark:
        "results/cells/{dataset}/query/{query}/benchmark.tsv"
    conda:
        "../envs/cells.yaml"
    threads: 1
    resources:
        mem_mb=grows_with_input(3000, 5),
        runtime=grows_with_input(30, 0.02),
    params:
        source=lambda wildcards: cells_queries(config, wildcards.dataset)[
            wildcards.query
        ],
        query=lambda wildcards: cells_query_settings(config["cells"][wildcards.dataset]),
        models=cells_query_model_names,
        device=config["device"],
    script:
        "../scripts/cells_annotate.py"


declare_results(
    expand(rules.cells_compare.output.table, dataset=config["cells"])
    + (["results/cells/comparison.tsv"] if config["cells"] else [])
    + [
        f"results/cells/{dataset}/query/{query}/annotations.tsv"
        for dataset in config["cells"]
        for query in cells_queries(config, dataset)
    ],
    expand(rules.cells_compare.output.headline, dataset=config["cells"]),
)
