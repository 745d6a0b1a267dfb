from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/cells.smk"
include: "rules/molecules.smk"
include: "rules/images.smk"
include: "rules/gan.smk"
include: "rules/evaluate.smk"
include: "rules/augment.smk"
include: "rules/augment_cells.smk"
include: "rules/motifs.smk"
include: "rules/summary.smk"


report: "rules/captions/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
