rule motifs_experiment:
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
    benchmark:
        "results/motifs/{experiment}/benchmark.tsv"
    wildcard_constraints:
        experiment="[^/]+",
    # the longest independent job: it starts first, in one thread (counts do not depend on --cores)
    priority: 1
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=lambda wildcards: config["motifs"][wildcards.experiment],
        device=config["device"],
    script:
        "../scripts/motifs_experiment.py"


declare_results(
    expand(rules.motifs_experiment.output.table, experiment=config["motifs"]),
    expand(rules.motifs_experiment.output.headline, experiment=config["motifs"]),
)
