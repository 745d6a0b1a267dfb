rule images_simulate:
    output:
        directory("results/images/{dataset}/simulated"),
    log:
        "logs/images/{dataset}/simulate.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    params:
        cfg=entry_keys("images", "dataset", "simulate", "size"),
    script:
        "../scripts/images_simulate.py"


rule images_prepare:
    input:
        unpack(images_input),
    output:
        tiles="results/images/{dataset}/tiles.npz",
        manifest="results/images/{dataset}/manifest.tsv",
        montage=report(
            "results/images/{dataset}/montage.png",
            caption="captions/images_montage.rst",
            category="Microscopy",
            subcategory="{dataset}",
            labels={"figure": "real tiles per class"},
        ),
    log:
        "logs/images/{dataset}/prepare.log",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        cfg=entry_keys(
            "images",
            "dataset",
            "folder",
            "manifest",
            "channels",
            "size",
            "fit",
            "intensity",
            "test_fraction",
            "seed",
        ),
    script:
        "../scripts/images_prepare.py"
