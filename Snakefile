from snakemake.utils import min_version, validate

min_version("9.0")


# The demo config unless the command line names config files: `--configfile my.yaml` runs my.yaml alone
# (with the schema's defaults), never the demo's datasets beside it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/cells.smk"
include: "rules/molecules.smk"
include: "rules/images.smk"
include: "rules/gan.smk"
include: "rules/augment_images.smk"
include: "rules/augment_cells.smk"
include: "rules/motifs.smk"
include: "rules/summary.smk"


report: "rules/captions/workflow.rst"


route_by_resources()


rule all:
    default_target: True
    input:
        TARGETS,
