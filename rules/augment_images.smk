# Input functions and params of the rules below (the experiments are checked by src/dlbio/config_checks.py).
augment_images_experiment = lambda wildcards: config["augment_images"][
    wildcards.experiment
]
augment_images_gan_run = lambda wildcards: augment_images_experiment(wildcards)[
    "gan_run"
]
# The GAN run's tile store and trained generator.
augment_images_inputs = lambda wildcards: {
    "tiles": f"results/images/{config['gan'][augment_images_gan_run(wildcards)]['dataset']}/tiles.npz",
    "generator": f"results/gan/{augment_images_gan_run(wildcards)}/generator.pt",
}
# One table per configured fraction × seed (fractions as written by str()).
augment_images_runs = lambda wildcards: expand(
    "results/augment/images/{experiment}/runs/fraction{fraction}_seed{seed}.tsv",
    experiment=wildcards.experiment,
    fraction=map(str, augment_images_experiment(wildcards)["fractions"]),
    seed=augment_images_experiment(wildcards)["seeds"],
)


rule augment_images_run:
    input:
        unpack(augment_images_inputs),
    output:
        "results/augment/images/{experiment}/runs/fraction{fraction}_seed{seed}.tsv",
    log:
        "logs/augment/images/{experiment}/fraction{fraction}_seed{seed}.log",
    benchmark:
        "results/augment/images/{experiment}/runs/fraction{fraction}_seed{seed}.benchmark.tsv"
    wildcard_constraints:
        experiment="[^/]+",
        fraction="[0-9.e+-]+",
        seed="[0-9]+",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        entry=entry_keys(
            "augment_images", "experiment", "synthetic_ratio", "classifier"
        ),
        gan=lambda wildcards: {
            key: config["gan"][augment_images_gan_run(wildcards)][key]
            for key in ("arch", "classes", "width", "nz")
        },
        fraction=lambda wildcards: float(wildcards.fraction),
        seed=lambda wildcards: int(wildcards.seed),
        device=config["device"],
    script:
        "../scripts/augment_images_run.py"


rule augment_images_summary:
    input:
        augment_images_runs,
    output:
        runs=report(
            "results/augment/images/{experiment}/runs.tsv",
            caption="captions/augment_images_runs.rst",
            category="Augmentation",
            subcategory="images: {experiment}",
            labels={"result": "runs table"},
        ),
        summary=report(
            "results/augment/images/{experiment}/summary.tsv",
            caption="captions/augment_images_summary.rst",
            category="Augmentation",
            subcategory="images: {experiment}",
            labels={"result": "summary table"},
        ),
        json="results/augment/images/{experiment}/summary.json",
        headline="results/augment/images/{experiment}/headline.tsv",
        figure=report(
            "results/augment/images/{experiment}/summary.png",
            caption="captions/augment_images_figure.rst",
            category="Augmentation",
            subcategory="images: {experiment}",
            labels={"result": "summary figure"},
        ),
    log:
        "logs/augment/images/{experiment}/summary.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        entry=entry_keys("augment_images", "experiment", "gan_run", "synthetic_ratio"),
    script:
        "../scripts/augment_images_summary.py"


declare_results(
    expand(
        rules.augment_images_summary.output.json, experiment=config["augment_images"]
    ),
    expand(
        rules.augment_images_summary.output.headline,
        experiment=config["augment_images"],
    ),
)
