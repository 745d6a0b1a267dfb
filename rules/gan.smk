# Input functions and params of the rules below (images_simulated and gan_scoring: rules/images.smk).
gan_dataset = lambda wildcards: config["gan"][wildcards.run]["dataset"]
gan_tiles = lambda wildcards: f"results/images/{gan_dataset(wildcards)}/tiles.npz"
# A GAN run's entry without what only sampling and export read (a new `n_samples` resamples, a new `export`
# re-exports, neither retrains).
gan_training_settings = lambda wildcards: {
    key: value
    for key, value in config["gan"][wildcards.run].items()
    if key not in ("dataset", "n_samples", "export")
}
# Tiles and tile classifier of the run's dataset, and its simulated folder (ground truth) if simulated.
gan_evaluation_inputs = lambda wildcards: {
    "tiles": gan_tiles(wildcards),
    "classifier": f"results/images/{gan_dataset(wildcards)}/classifier/model.pt",
    "simulated": images_simulated(gan_dataset(wildcards)),
}
# The evaluation of every run on an images dataset.
gan_dataset_evaluations = lambda wildcards: expand(
    "results/gan/{run}/evaluation.json",
    run=[r for r, run in config["gan"].items() if run["dataset"] == wildcards.dataset],
)


rule gan_train:
    input:
        tiles=gan_tiles,
    output:
        generator="results/gan/{run}/generator.pt",
        losses="results/gan/{run}/losses.tsv",
        snapshots=directory("results/gan/{run}/snapshots"),
        loss_plot=report(
            "results/gan/{run}/losses.png",
            caption="captions/gan_losses.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "losses"},
        ),
        progress=report(
            "results/gan/{run}/progress.png",
            caption="captions/gan_progress.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "samples during training"},
        ),
    log:
        "logs/gan/{run}/train.log",
    benchmark:
        "results/gan/{run}/train.benchmark.tsv"
    # the longest path of most runs (training, then evaluation and augmentation): it starts first
    priority: 2
    conda:
        "../envs/images.yaml"
    # one thread: small nets gain little from a second one (docs/benchmarks.md); more with --set-threads gan_train=N
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 720 * attempt,
    params:
        entry=gan_training_settings,
        device=config["device"],
        checkpoint_dir="results/gan/{run}/checkpoint",
        scored_by=lambda wildcards, input: gan_scoring(wildcards.run),
    script:
        "../scripts/gan_train.py"


rule gan_sample:
    input:
        tiles=gan_tiles,
        generator=rules.gan_train.output.generator,
    output:
        tiles="results/gan/{run}/synthetic.npz",
        montage=report(
            "results/gan/{run}/synthetic_montage.png",
            caption="captions/gan_samples.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "generated tiles per class"},
        ),
    log:
        "logs/gan/{run}/sample.log",
    priority: 2
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys(
            "gan", "run", "arch", "classes", "width", "nz", "n_samples", "seed"
        ),
        device=config["device"],
    script:
        "../scripts/gan_sample.py"


rule gan_evaluate:
    input:
        unpack(gan_evaluation_inputs),
        generator=rules.gan_train.output.generator,
        snapshots=rules.gan_train.output.snapshots,
    output:
        evaluation="results/gan/{run}/evaluation.json",
        scores="results/gan/{run}/scores.tsv",
        score_plot=report(
            "results/gan/{run}/scores.png",
            caption="captions/gan_scores.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "scores vs iteration"},
        ),
        montage=report(
            "results/gan/{run}/real_fake_montage.png",
            caption="captions/gan_real_fake.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "real and generated tiles"},
        ),
        headline="results/gan/{run}/headline.tsv",
    log:
        "logs/gan/{run}/evaluate.log",
    priority: 2
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 240 * attempt,
    params:
        entry=entry_keys(
            "gan",
            "run",
            "dataset",
            "arch",
            "algorithm",
            "classes",
            "width",
            "nz",
            "iterations",
        ),
        evaluation={
            key: config["evaluation"][key]
            for key in (
                "seed",
                "n_generated",
                "nearest_k",
                "kid_subsets",
                "kid_subset_size",
                "c2st",
            )
        },
        device=config["device"],
    script:
        "../scripts/gan_evaluate.py"


rule gan_evaluation_table:
    input:
        gan_dataset_evaluations,
    output:
        table=report(
            "results/gan/evaluation_{dataset}.tsv",
            caption="captions/gan_evaluation_table.rst",
            category="Microscopy GANs",
            subcategory="evaluation",
            labels={"dataset": "{dataset}", "figure": "evaluation table"},
        ),
    log:
        "logs/gan/evaluation_{dataset}.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    script:
        "../scripts/gan_evaluation_table.py"


declare_results(expand(rules.gan_sample.output.montage, run=config["gan"]))
# with evaluation: every run scored, one table per images dataset with runs
if config["evaluation"]["enabled"]:
    declare_results(
        expand(
            rules.gan_evaluation_table.output.table,
            dataset=sorted({run["dataset"] for run in config["gan"].values()}),
        ),
        expand(rules.gan_evaluate.output.headline, run=config["gan"]),
    )


rule gan_export:
    input:
        tiles=gan_tiles,
        generator=rules.gan_train.output.generator,
    output:
        tiles=directory("results/gan/{run}/export"),
        table="results/gan/{run}/export.tsv",
    log:
        "logs/gan/{run}/export.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys(
            "gan", "run", "arch", "classes", "width", "nz", "seed", "export"
        ),
        device=config["device"],
    script:
        "../scripts/gan_export.py"


# the runs with export.n > 0
declare_results(
    expand(
        rules.gan_export.output.table,
        run=[run for run, entry in config["gan"].items() if entry["export"]["n"] > 0],
    )
)
