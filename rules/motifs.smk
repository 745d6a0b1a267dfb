rule motifs_train:
    output:
        row="results/motifs/{experiment}/{algorithm}/counts.json",
    log:
        "logs/motifs/{experiment}/{algorithm}.log",
    benchmark:
        "results/motifs/{experiment}/{algorithm}/benchmark.tsv"
    wildcard_constraints:
        experiment="[^/]+",
        algorithm="[^/]+",
    # the longest independent jobs: they start first, one per algorithm, in one thread each (counts do not
    # depend on --cores)
    priority: 1
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=motif_algorithm,
        device=config["device"],
    script:
        "../scripts/motifs_train.py"


rule motifs_experiment:
    input:
        rows=lambda wildcards: expand(
            rules.motifs_train.output.row,
            experiment=wildcards.experiment,
            algorithm=config["motifs"][wildcards.experiment]["algorithms"],
        ),
    output:
        table=report(
            "results/motifs/{experiment}/counts.tsv",
            caption="captions/motifs_counts.rst",
            category="Motif GANs",
            subcategory="{experiment}",
            labels={"table": "motif counts"},
        ),
        counts="results/motifs/{experiment}/counts.json",
        headline="results/motifs/{experiment}/headline.tsv",
        figure=report(
            "results/motifs/{experiment}/proportions.png",
            caption="captions/motifs_proportions.rst",
            category="Motif GANs",
            subcategory="{experiment}",
            labels={"figure": "mode proportions"},
        ),
    log:
        "logs/motifs/{experiment}/experiment.log",
    wildcard_constraints:
        experiment="[^/]+",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 5 * attempt,
    params:
        entry=entry_keys("motifs", "experiment", "modes", "n_train", "length", "seed"),
        algorithms=lambda wildcards: list(
            config["motifs"][wildcards.experiment]["algorithms"]
        ),
    script:
        "../scripts/motifs_experiment.py"


declare_results(
    expand(rules.motifs_experiment.output.table, experiment=config["motifs"]),
    expand(rules.motifs_experiment.output.headline, experiment=config["motifs"]),
)
