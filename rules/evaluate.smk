rule images_classifier:
    input:
        tiles="results/images/{dataset}/tiles.npz",
    output:
        model="results/images/{dataset}/classifier/model.pt",
        metrics="results/images/{dataset}/classifier/metrics.json",
        predictions="results/images/{dataset}/classifier/predictions.tsv",
        confusion=report(
            "results/images/{dataset}/classifier/confusion.png",
            caption="captions/evaluate_classifier.rst",
            category="Microscopy",
            subcategory="{dataset}",
            labels={"figure": "tile classifier confusion matrix"},
        ),
    log:
        "logs/images/{dataset}/classifier.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        classifier=config["evaluation"]["classifier"],
        scored_by=lambda wildcards, input: {
            run: gan_scoring(run)
            for run, entry in config["gan"].items()
            if entry["dataset"] == wildcards.dataset
        },
        seed=config["evaluation"]["seed"],
        device=config["device"],
    script:
        "../scripts/images_classifier.py"


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
            caption="captions/evaluate_scores.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "scores vs iteration"},
        ),
        montage=report(
            "results/gan/{run}/real_fake_montage.png",
            caption="captions/evaluate_montage.rst",
            category="Microscopy GANs",
            subcategory="{run}",
            labels={"figure": "real and generated tiles"},
        ),
    log:
        "logs/gan/{run}/evaluate.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 240 * attempt,
    params:
        run=entry_keys(
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
        "../scripts/evaluate_gan.py"


rule gan_evaluation_table:
    input:
        gan_dataset_evaluations,
    output:
        report(
            "results/gan/evaluation_{dataset}.tsv",
            caption="captions/evaluate_table.rst",
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
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    script:
        "../scripts/evaluate_table.py"
