from snakemake.utils import min_version, validate

from dlbio.config_checks import check_config
from dlbio.workflow_internals import (
    check_report_is_current,
    demo_config_wanted,
    route_by_resources,
)

min_version("9.0")


# The demo config unless the command line names config files: `--configfile my.yaml` runs my.yaml alone
# (with the schema's defaults), never the demo's datasets beside it.
if demo_config_wanted(workflow):

    configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
check_config(config)  # every parse-time check of the config: src/dlbio/config_checks.py
check_report_is_current()


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


route_by_resources(workflow)


rule all:
    default_target: True
    input:
        TARGETS,
