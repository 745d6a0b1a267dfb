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


rule molecules_train_gnn:
    input:
        graphs=rules.molecules_prepare.output.graphs,
        table=rules.molecules_prepare.output.table,
    output:
        metrics="results/molecules/{dataset}/{model}/metrics.json",
        predictions="results/molecules/{dataset}/{model}/predictions.tsv",
        history="results/molecules/{dataset}/{model}/history.tsv",
        figure=report(
            "results/molecules/{dataset}/{model}/performance.png",
            caption="captions/molecules_performance.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "test performance"},
        ),
    log:
        "logs/molecules/{dataset}/{model}.log",
    benchmark:
        "results/molecules/{dataset}/{model}/benchmark.tsv"
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
        entry=entry_keys("molecules", "dataset", "targets", "task", "gnn", "seed"),
        device=config["device"],
    script:
        "../scripts/molecules_train_gnn.py"


rule molecules_baseline:
    input:
        graphs=rules.molecules_prepare.output.graphs,
        table=rules.molecules_prepare.output.table,
    output:
        metrics="results/molecules/{dataset}/{model}/metrics.json",
        predictions="results/molecules/{dataset}/{model}/predictions.tsv",
        figure=report(
            "results/molecules/{dataset}/{model}/performance.png",
            caption="captions/molecules_performance.rst",
            category="Molecules",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "test performance"},
        ),
    log:
        "logs/molecules/{dataset}/{model}.log",
    wildcard_constraints:
        model=MOLECULE_BASELINE,
    conda:
        "../envs/molecules.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys("molecules", "dataset", "targets", "task", "baseline", "seed"),
    script:
        "../scripts/molecules_baseline.py"


rule molecules_compare:
    input:
        metrics=molecules_metrics,
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
        task=lambda wildcards: config["molecules"][wildcards.dataset]["task"],
    script:
        "../scripts/molecules_compare.py"


declare_results(
    expand(rules.molecules_compare.output.table, dataset=config["molecules"]),
    expand(rules.molecules_compare.output.headline, dataset=config["molecules"]),
)
