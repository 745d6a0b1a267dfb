"""The workflow on a real single-node SLURM (tests/slurm/cluster.sh) through ``--profile profiles/slurm``.

Needs root and apt (CI has both): the cluster's packages are installed and its daemons started here.
"""

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from helpers import REPO, load_config, snakemake

CLUSTER = REPO / "tests/slurm/cluster.sh"
STALL_HOOK = REPO / "tests/slurm/stall"  # sitecustomize.py: the first GAN training stalls after its first checkpoint
GPU_MODEL = "v100x"  # the test cluster's GPU type, set through the profile's DLBIO_GPU_MODEL like a user would
GAN = {"dataset": "sim", "arch": "dcgan-starshaped", "algorithm": "wgan-gp", "nz": 8, "n_samples": 3}
TARGETS = ["results/cells/sim/comparison.tsv", "results/gan/star/synthetic.npz"]


def _missing():
    if os.geteuid() != 0:
        return "needs root to install and start a SLURM cluster (CI runs as root)"
    if not shutil.which("apt-get"):
        return "needs apt-get to install Debian's slurm-wlm"
    return None


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(_missing() is not None, reason=f"real SLURM test skipped: {_missing()}"),
]


def tiny_config(counts_h5ad, gan):
    return {
        "cells": {
            "sim": {
                "h5ad": str(counts_h5ad),
                "label_key": "cell_type",
                "preprocess": {"min_genes": 10, "n_top_genes": 200, "n_pcs": 20},
                "models": ["gcn"],
                "gnn": {"hidden": 16, "max_epochs": 30, "patience": 10},
            }
        },
        **load_config("images_sim"),
        "gan": {"star": GAN | gan},
    }


@pytest.fixture(scope="module")
def cluster():
    subprocess.run(["bash", CLUSTER, "up"], check=True, env=os.environ | {"GPU_TYPE": GPU_MODEL})
    yield
    subprocess.run(["bash", CLUSTER, "down"], check=True)


def on_slurm(workdir, config, *args, env=None):
    """Run the workflow through the shipped SLURM profile (plus the test overlay's fast polling).

    ``env``: extra environment variables of the run; the SLURM plugin exports them to every job.
    """
    env = os.environ | {"DLBIO_GPU_MODEL": GPU_MODEL} | (env or {})
    profiles = ["--profile", REPO / "profiles/slurm", "--profile", REPO / "tests/slurm/overlay.yaml"]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", REPO / "Snakefile", "-d", workdir, "--configfile", "config.yaml"]
    result = subprocess.run([*map(str, cmd + profiles), *args], capture_output=True, text=True, cwd=workdir, env=env)
    run_id = next(line.split(": ")[1] for line in result.stderr.splitlines() if line.startswith("SLURM run ID"))
    return result, accounting(run_id)


def accounting(run_id):
    """sacct's record of every job (and attempt) of one Snakemake run: rule, partition, state, resources and the
    sbatch command that submitted it (SubmitLine, last: it may hold the field separator)."""
    fields = "JobID,Comment,Partition,State,AllocTRES,ReqMem,Timelimit,SubmitLine"
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", run_id, "-o", fields], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split("|", fields.count(",")) for line in out.splitlines()]
    table = pd.DataFrame(rows, columns=fields.split(","))
    table["rule"] = table["Comment"].str.extract(r"^rule_(.+?)(?:_wildcards_|$)", expand=False)
    return table


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory, counts_h5ad):
    config = tiny_config(counts_h5ad, {"iterations": 4, "batch_size": 4, "width": 4, "checkpoint_every": 2})
    # a user's setting: it must reach SLURM as the job's CPUs. Not a torch job's: two torch threads beside the other
    # test workers wait on each other at every operation (a 4-iteration GAN took 8 minutes on 2 busy cores, 7 s alone)
    threads = ["--set-threads", "cells_baseline=2"]
    local = tmp_path_factory.mktemp("local")
    # two cores, so that the local job takes the two threads the SLURM job gets (a thread count can change floats)
    assert snakemake(local, config, *TARGETS, *threads, "--cores", "2").returncode == 0
    slurm = tmp_path_factory.mktemp("slurm")
    result, jobs = on_slurm(slurm, config, *TARGETS, *threads)
    assert result.returncode == 0, result.stderr[-3000:]
    return local, slurm, jobs


def test_every_job_went_through_sbatch_and_completed(runs):
    _, _, jobs = runs
    assert sorted(jobs["rule"]) == sorted(
        ["cells_prepare", "cells_train_gnn", "cells_baseline", "cells_compare"]
        + ["images_simulate", "images_prepare", "gan_train", "gan_sample"]
    )
    assert (jobs["State"] == "COMPLETED").all(), jobs


def test_training_ran_on_the_gpu_partition_with_a_gpu(runs):
    jobs = runs[2].set_index("rule")
    for rule in ("gan_train", "cells_train_gnn"):
        assert jobs.loc[rule, "Partition"] == "gpu"
        assert "gres/gpu=1" in jobs.loc[rule, "AllocTRES"]
        assert "cpu=1" in jobs.loc[rule, "AllocTRES"]  # the rule's threads
        # Biowulf's documented form, without lscratch (DLBIO_LSCRATCH_GB unset)
        assert f"--gres=gpu:{GPU_MODEL}:1" in jobs.loc[rule, "SubmitLine"]
        assert "--gpus" not in jobs.loc[rule, "SubmitLine"]
    for rule in ("cells_prepare", "images_prepare", "cells_baseline"):
        assert jobs.loc[rule, "Partition"] == "norm" and "gpu" not in jobs.loc[rule, "AllocTRES"]
    assert "cpu=2" in jobs.loc["cells_baseline", "AllocTRES"]  # the run's --set-threads
    for rule in ("cells_compare", "gan_sample", "images_simulate"):
        assert jobs.loc[rule, "Partition"] == "quick"
    assert jobs.loc["gan_train", "ReqMem"] == "8000M"


def test_outputs_equal_those_of_a_local_run(runs):
    local, slurm, _ = runs
    files = sorted(p.relative_to(local) for p in (local / "results").rglob("*") if p.is_file())
    files = [f for f in files if not f.name.endswith("benchmark.tsv")]  # timings
    assert len(files) > 20
    for name in files:
        assert (slurm / name).read_bytes() == (local / name).read_bytes(), name
    assert (slurm / "logs/slurm/rule_gan_train/star").is_dir()  # one SLURM log per job


def test_with_lscratch_a_gpu_job_asks_gpus_beside_the_scratch_gres(cluster, tmp_path):
    """DLBIO_LSCRATCH_GB > 0: --gpus=<model>:1 and --gres=lscratch:N, as the plugin cannot send both in one --gres
    (upstream issue 466); the job still lands on the GPU partition with a GPU and its scratch."""
    target = "results/motifs/tiny/counts.tsv"
    result, jobs = on_slurm(tmp_path / "run", load_config("motifs_tiny"), target, env={"DLBIO_LSCRATCH_GB": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    job = jobs.set_index("rule").loc["motifs_train"]
    assert job["State"] == "COMPLETED" and job["Partition"] == "gpu"
    assert "gres/gpu=1" in job["AllocTRES"] and "gres/lscratch=2" in job["AllocTRES"]
    assert f"--gpus={GPU_MODEL}:1" in job["SubmitLine"] and "--gres=lscratch:2" in job["SubmitLine"]


def test_failing_job_is_retried_with_more_memory_and_reported(cluster, tmp_path, counts_h5ad):
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(b"not an HDF5 file")
    config = tiny_config(counts_h5ad, {})
    config["cells"]["sim"]["h5ad"] = str(broken)
    result, jobs = on_slurm(tmp_path / "run", config, "results/cells/sim/comparison.tsv")
    assert result.returncode != 0
    assert "Error in rule cells_prepare" in result.stderr
    assert list(jobs["State"]) == ["FAILED"] * 3  # retries: 2 in the profile
    assert list(jobs["ReqMem"]) == ["1501M", "3001M", "4501M"]  # ⌈(1500 MB + 2 × the tiny input) × attempt⌉


def test_gan_killed_at_its_time_limit_resumes_from_its_checkpoint(cluster, tmp_path, counts_h5ad):
    """SLURM kills the first attempt at its time limit (TIMEOUT); the retry, with more time, resumes and completes.

    Independent of the machine's speed: the test hook tests/slurm/stall (on PYTHONPATH, exported to the jobs) makes
    the first training stall right after its first checkpoint, as if it had far more work than its limit allows, so
    the first attempt always runs into its limit with that checkpoint written, however fast or slow the machine;
    the retry resumes from it and trains to the end unhindered. Same config, same job, only the attempt differs.
    """
    every, iterations = 1, 3
    gan = {"batch_size": 4, "width": 4, "iterations": iterations, "checkpoint_every": every}
    config = tiny_config(counts_h5ad, gan) | {"device": "cpu"}  # where a resumed run is exact (see below)
    target = "results/gan/star/generator.pt"
    # first attempt: 2 minutes, ample time to reach its first checkpoint on a busy machine; SLURM kills it 120 to
    # 150 s after it starts. The retry gets 20 minutes and resumes.
    limits = "gan_train:runtime=2 if attempt == 1 else 20"
    resources = [limits, "gan_train:slurm_partition=gpu", f"gan_train:gpu_model={GPU_MODEL}"]
    stall = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(STALL_HOOK), os.environ.get("PYTHONPATH")])),
        "DLBIO_TEST_STALL_MARKER": str(tmp_path / "stalled"),  # created when the first training starts
    }
    result, jobs = on_slurm(tmp_path / "run", config, target, "--set-resources", *resources, env=stall)
    assert result.returncode == 0, result.stderr[-3000:]
    train = jobs[jobs["rule"] == "gan_train"]
    assert list(train["State"]) == ["TIMEOUT", "COMPLETED"]
    assert list(train["Timelimit"]) == ["00:02:00", "00:20:00"]
    run = tmp_path / "run"
    killed = (run / f"logs/slurm/rule_gan_train/star/{train['JobID'].iloc[0]}.log").read_text()
    assert f"stalling after the checkpoint at iteration {every} " in killed  # the hook held the first attempt there
    log = (run / "logs/gan/star/train.log").read_text()  # the retry's
    assert f"resumed from results/gan/star/checkpoint/last.pt at iteration {every}\n" in log  # that checkpoint
    assert "stalling" not in log  # and trained to the end
    losses = pd.read_csv(run / "results/gan/star/losses.tsv", sep="\t")
    assert list(losses["iteration"]) == list(range(1, iterations + 1))
    last = torch.load(run / "results/gan/star/checkpoint/last.pt", weights_only=True)
    assert last["iteration"] == iterations
    # exact resume (on CPU): killed and resumed ends where a run that never stopped ends
    local = tmp_path / "local"
    assert snakemake(local, config, target).returncode == 0
    for name in ("generator.pt", "losses.tsv"):
        assert (run / "results/gan/star" / name).read_bytes() == (local / "results/gan/star" / name).read_bytes(), name
