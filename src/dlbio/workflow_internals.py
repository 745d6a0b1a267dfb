"""The parts of the workflow that rely on Snakemake's internals rather than its documented API, in one place.

Checked on snakemake 9.27.1 with snakemake-executor-plugin-slurm 2.8.0 (the lock's pins; tests/test_profiles.py
and tests/test_slurm.py run them). On a Snakemake upgrade, read these three against the new version:

- :func:`demo_config_wanted`: ``workflow.overwrite_configfiles``, the files given with ``--configfile``.
- :func:`route_by_resources`: ``workflow.resource_settings.overwrite_resources`` (a profile's ``set-resources``),
  ``workflow.rules``, ``rule.resources`` and :class:`snakemake.resources.Resources`.
- :func:`check_report_is_current`: Snakemake's command line in ``sys.argv`` (``--report``, ``--report-after-run``)
  and the text of a dry run ("Nothing to be done", "Job stats:", "Reasons:").

The Snakefile imports this module; nothing else does.
"""

import subprocess
import sys

from snakemake.resources import Resources

from dlbio.errors import InputError


def demo_config_wanted(workflow):
    """Whether the command line names no config file (``--configfile my.yaml`` runs my.yaml alone)."""
    return not workflow.overwrite_configfiles


def route_by_resources(workflow):
    """A profile's ``set-resources`` entry named after a resource (``gpu``, ``quick``) applies to every rule
    that declares that resource, below the rule's own entry: a cluster profile routes jobs by what rules need.
    """
    entries = workflow.resource_settings.overwrite_resources
    for step in workflow.rules:
        own = entries.get(step.name, {})
        for resource, settings in entries.items():
            if resource in step.resources and resource != step.name:
                routed = Resources.from_mapping(settings).items()
                step.resources.update(Resources({key: value for key, value in routed if key not in own}))


def report_arguments(args):
    """The command line ``args`` without ``--report [FILE]`` when it asks for a report of the results as they are."""
    if "--report-after-run" in args:
        return None
    for i, arg in enumerate(args):
        if arg.startswith("--report="):
            return args[:i] + args[i + 1 :]
        if arg == "--report":
            has_file = i + 1 < len(args) and not args[i + 1].startswith("-")
            return args[:i] + args[i + 1 + has_file :]
    return None


def check_report_is_current():
    """``--report`` embeds the files as they are: refuse while a job of this config would still (re)run, so a
    report never shows another config's tables or results made with other settings."""
    args = report_arguments(sys.argv[1:])
    if args is None:
        return
    dry_run = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--dry-run"],
        capture_output=True,
        text=True,
    )
    if dry_run.returncode != 0 or "Nothing to be done" not in dry_run.stdout:
        stats = dry_run.stdout.partition("Job stats:")[2].partition("Reasons:")[0]
        raise InputError(
            "the results are not those of this config (another config's, or older settings); "
            f"run the workflow with the same config first, then --report. Jobs that would run:{stats or dry_run.stderr}"
        )
