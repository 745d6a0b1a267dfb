from dlbio.errors import require_file

BUILTIN_PREFIX = "scanpy:"


def check_input_files():
    """Fail before any job starts when a configured input file is missing."""
    for name, entry in config["cells"].items():
        if not entry["h5ad"].startswith(BUILTIN_PREFIX):
            require_file(entry["h5ad"], f"cells.{name}.h5ad")


def cells_input(wildcards):
    source = config["cells"][wildcards.dataset]["h5ad"]
    return [] if source.startswith(BUILTIN_PREFIX) else [source]


def cells_metrics(wildcards):
    models = config["cells"][wildcards.dataset]["models"] + ["logreg"]
    return expand(
        "results/cells/{dataset}/{model}/metrics.json",
        dataset=wildcards.dataset,
        model=models,
    )


def cells_targets():
    return expand("results/cells/{dataset}/comparison.tsv", dataset=config["cells"])


check_input_files()
