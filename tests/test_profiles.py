"""The shipped profiles resolve to the intended resources (a dry run: no cluster needed)."""

import json
import os
import re
import subprocess
import sys

import pytest

from helpers import REPO

TRAINING = {"gan_train", "cells_train_gnn", "molecules_train_gnn"}


def dry_run_resources(tmp_path, profile, **env):
    """{rule: {resource: value}} of every job that the default config would run, as the profile sets them."""
    cmd = [sys.executable, "-m", "snakemake", "-s", REPO / "Snakefile", "-d", tmp_path, "--profile", profile]
    result = subprocess.run(
        [*map(str, cmd), "-n", "--configfile", str(REPO / "config/config.yaml")],
        capture_output=True, text=True, cwd=tmp_path, env=os.environ | env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", result.stdout + result.stderr, re.M)
    return {rule: dict(item.split("=", 1) for item in resources.split(", ")) for rule, resources in jobs}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    return dry_run_resources(tmp_path_factory.mktemp("slurm"), REPO / "profiles/slurm")


def gpu_rules(jobs):
    return {rule for rule, resources in jobs.items() if "gpu" in resources}


def test_training_rules_ask_for_a_typed_gpu_on_the_gpu_partition(slurm):
    """Biowulf's form --gres=gpu:<model>:1; gpu=0 keeps the plugin from adding --gpus (the rule declared gpu=1)."""
    assert TRAINING <= gpu_rules(slurm)
    for rule in gpu_rules(slurm):
        assert slurm[rule]["slurm_partition"] == "gpu" and slurm[rule]["gres"] == "gpu:p100:1", rule
        assert slurm[rule]["gpu"] == "0" and "gpu_model" not in slurm[rule], rule


def test_other_rules_run_on_cpu_partitions(slurm):
    cpu_rules = set(slurm) - gpu_rules(slurm) - {"all"}
    assert len(cpu_rules) >= 8
    for rule in cpu_rules:
        assert slurm[rule]["slurm_partition"] in {"norm", "quick"}, rule
    assert slurm["cells_compare"]["slurm_partition"] == "quick"
    assert slurm["cells_prepare"]["slurm_partition"] == "norm"


def test_jobs_go_where_the_resources_of_their_rules_say_not_by_rule_name(slurm):
    for rule, resources in slurm.items():
        declared = "gpu" if "gpu" in resources else "quick" if "quick" in resources else "norm"
        assert resources["slurm_partition"] == declared, rule
    profile = (REPO / "profiles/slurm/config.yaml").read_text()
    assert [rule for rule in slurm if rule != "all" and re.search(rf"\b{rule}\b", profile)] == []


# Records, as Snakemake parses rules/*.smk, what each rule itself says: whether it has `threads:` and the names under
# its `resources:` (a profile's default-resources would fill in what a rule omits, so a dry run cannot tell).
# Wraps Workflow.rule, which receives each rule's parsed directives (checked on Snakemake 9.27).
DECLARED = """
import json, sys
from snakemake.cli import main
from snakemake.workflow import Workflow

declared, register = {}, Workflow.rule


def recording(self, name=None, *args, **kwargs):
    add = register(self, name, *args, **kwargs)

    def record(ruleinfo):
        resources = ruleinfo.resources[1] if ruleinfo.resources else {}
        declared[name] = {"threads": ruleinfo.threads is not None, "resources": sorted(resources)}
        return add(ruleinfo)

    return record


Workflow.rule = recording
try:
    main(sys.argv[1:])
finally:
    print("DECLARED", json.dumps(declared))
"""


def declared_by_rules(tmp_path):
    """{rule: {"threads": declared?, "resources": [names]}} of every rule in the workflow, parsed with no profile."""
    cmd = ["-s", REPO / "Snakefile", "-d", tmp_path, "--configfile", REPO / "config/config.yaml", "--list-rules"]
    cmd = [sys.executable, "-c", DECLARED, *map(str, cmd)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.split("DECLARED ")[-1])


def test_every_job_declares_threads_memory_and_runtime(slurm, tmp_path):
    declared = declared_by_rules(tmp_path)
    assert set(slurm) <= set(declared) and len(declared) >= 20
    for rule, what in declared.items():
        if rule != "all":  # the target rule runs no job
            assert what["threads"] and {"mem_mb", "runtime"} <= set(what["resources"]), (rule, what)
    for rule, resources in slurm.items():  # and the profile passes them on to SLURM
        assert int(resources["mem_mb"]) > 0 and int(resources["runtime"]) > 0, rule
        assert int(resources["cpus_per_task"]) >= 1, rule


def test_site_settings_are_overridden_from_the_environment(tmp_path):
    jobs = dry_run_resources(
        tmp_path, REPO / "profiles/slurm", DLBIO_GPU_MODEL="a100", DLBIO_GPU_PARTITION="gpu-a100",
        DLBIO_SLURM_ACCOUNT="mylab", DLBIO_LSCRATCH_GB="20",
    )
    assert jobs["gan_train"]["slurm_partition"] == "gpu-a100"
    assert jobs["cells_prepare"]["slurm_account"] == "mylab"
    assert jobs["cells_prepare"]["gres"] == "lscratch:20"
    # with lscratch a GPU job asks --gpus=a100:1 beside --gres=lscratch:20 (one GRES per --gres: issue 466)
    train = jobs["gan_train"]
    assert (train["gpu"], train["gpu_model"], train["gres"]) == ("1", "a100", "lscratch:20")


def test_local_profile_requests_no_cluster_resources(tmp_path):
    jobs = dry_run_resources(tmp_path, REPO / "profiles/local")
    assert jobs["gan_train"]["gpu"] == "1"
    assert not any("slurm_partition" in resources for resources in jobs.values())
