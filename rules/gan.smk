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
    conda:
        "../envs/images.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=lambda wildcards, attempt: 720 * attempt,
    params:
        run=gan_training_settings,
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
    conda:
        "../envs/images.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        run=entry_keys(
            "gan", "run", "arch", "classes", "width", "nz", "n_samples", "seed"
        ),
        device=config["device"],
    script:
        "../scripts/gan_sample.py"
