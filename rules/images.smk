from dlbio.config_checks import images_classify_sets

# Input functions and params of the rules below; rules/gan.smk uses images_simulated and gan_scoring too.
# The simulated folder (a job's output) of an entry that names no data, else none.
images_simulated = lambda dataset: (
    []
    if config["images"][dataset]["folder"] or config["images"][dataset]["manifest"]
    else [f"results/images/{dataset}/simulated"]
)
# The simulated folder, else the manifest if any.
images_input = lambda wildcards: {
    "simulated": images_simulated(wildcards.dataset),
    "manifest": list(filter(None, [config["images"][wildcards.dataset]["manifest"]])),
}
# What a GAN run's evaluation (when enabled) and the image augmentation experiments on it need of its tiles,
# checked before it trains. Rules take it as a param derived from their input (a function of `input`), which
# Snakemake does not record: a changed evaluation or experiment never retrains.
gan_scoring = lambda run: {
    "arch": config["gan"][run]["arch"],
    "classes": config["gan"][run]["classes"],
    "evaluation": (
        {key: config["evaluation"][key] for key in ("nearest_k", "n_generated")}
        if config["evaluation"]["enabled"]
        else None
    ),
    "augment_fractions": {
        name: experiment["fractions"]
        for name, experiment in config["augment_images"].items()
        if experiment["gan_run"] == run
    },
}
images_classify_set = lambda wildcards: images_classify_sets(config, wildcards.dataset)[
    wildcards.set
]
# The dataset's tile classifier and the set's images: its folder, its manifest or the dataset's manifest.
images_classify_input = lambda wildcards: {
    "classifier": f"results/images/{wildcards.dataset}/classifier/model.pt",
    "images": images_classify_set(wildcards)["folder"]
    or images_classify_set(wildcards)["manifest"]
    or f"results/images/{wildcards.dataset}/manifest.tsv",
}


rule images_simulate:
    output:
        directory("results/images/{dataset}/simulated"),
    log:
        "logs/images/{dataset}/simulate.log",
    priority: 2  # before the GAN's training
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        quick=1,
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    params:
        entry=entry_keys("images", "dataset", "simulate", "size"),
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
    priority: 2
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        entry=entry_keys(
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


rule images_classifier:
    input:
        tiles="results/images/{dataset}/tiles.npz",
    output:
        model="results/images/{dataset}/classifier/model.pt",
        metrics="results/images/{dataset}/classifier/metrics.json",
        predictions="results/images/{dataset}/classifier/predictions.tsv",
        confusion=report(
            "results/images/{dataset}/classifier/confusion.png",
            caption="captions/images_classifier.rst",
            category="Microscopy",
            subcategory="{dataset}",
            labels={"figure": "tile classifier confusion matrix"},
        ),
        reliability=report(
            "results/images/{dataset}/classifier/reliability.png",
            caption="captions/images_reliability.rst",
            category="Microscopy",
            subcategory="{dataset}",
            labels={"figure": "tile classifier reliability diagram"},
        ),
    log:
        "logs/images/{dataset}/classifier.log",
    priority: 2  # the GAN evaluation scores with it
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


declare_results(expand(rules.images_prepare.output.montage, dataset=config["images"]))


rule images_classify:
    input:
        unpack(images_classify_input),
    output:
        predictions="results/images/{dataset}/classify/{set}/predictions.tsv",
    log:
        "logs/images/{dataset}/classify/{set}.log",
    wildcard_constraints:
        set="[^/]+",
    conda:
        "../envs/images.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        entry=entry_keys(
            "images", "dataset", "channels", "size", "fit", "intensity", "set_level"
        ),
        images=lambda wildcards: config["images"][wildcards.dataset]["classify"][
            wildcards.set
        ],
        device=config["device"],
    script:
        "../scripts/images_classify.py"


declare_results(
    [
        f"results/images/{dataset}/classify/{name}/predictions.tsv"
        for dataset in config["images"]
        for name in images_classify_sets(config, dataset)
    ]
)
