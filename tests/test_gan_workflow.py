"""Real Snakemake runs of the microscopy path: simulate → ingest → train (3 algorithms) → sample."""

import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from dlbio.data.tiles import load_tile_store
from helpers import CORES, REPO, load_config, snakemake, snakemake_command

pytestmark = pytest.mark.workflow


def gan_config():
    """One small run of each algorithm on simulated tiles (tests/configs/images_sim.yaml, gan_three_algorithms.yaml)."""
    return load_config("images_sim", "gan_three_algorithms")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gan")
    result = snakemake(workdir, gan_config())
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_simulated_tiffs_become_a_tile_store(run):
    simulated = run / "results/images/sim/simulated"
    assert len(list(simulated.glob("*/*.tif"))) == 60
    store = load_tile_store(run / "results/images/sim/tiles.npz")
    assert store["images"].shape == (60, 2, 32, 48) and store["images"].dtype == np.uint8
    assert list(store["classes"]) == ["Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1"]
    assert (store["split"] == "test").sum() == 12
    assert len(pd.read_csv(run / "results/images/sim/manifest.tsv", sep="\t")) == 60


@pytest.mark.parametrize("name, classes", [("plain", ["all"]), ("clipped", ["all"]), ("star", None)])
def test_each_algorithm_trains_and_samples(run, name, classes):
    out = run / "results/gan" / name
    losses = pd.read_csv(out / "losses.tsv", sep="\t")
    assert list(losses["iteration"]) == [1, 2, 3, 4]
    assert np.isfinite(losses[["critic_loss", "generator_loss"]].to_numpy()).all()
    weights = torch.load(out / "generator.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    synthetic = load_tile_store(out / "synthetic.npz")
    n_classes = len(classes or synthetic["classes"])
    assert synthetic["images"].shape == (3 * n_classes, 2, 32, 48)
    assert list(synthetic["classes"]) == (classes or ["Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1"])
    for figure in ("losses.png", "progress.png", "synthetic_montage.png"):
        assert Image.open(out / figure).size[0] > 100
    assert sorted(p.name for p in (out / "checkpoint/progress").iterdir()) == ["iter_0000002.png", "iter_0000004.png"]


def test_killed_training_job_resumes_from_its_checkpoint(run):
    config = gan_config()
    config["gan"] = {"long": config["gan"]["star"] | {"iterations": 150, "checkpoint_every": 5}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*map(str, snakemake_command(run)), "--cores", CORES]
    proc = subprocess.Popen(cmd, cwd=run, start_new_session=True, stderr=subprocess.DEVNULL)
    checkpoint = run / "results/gan/long/checkpoint/last.pt"
    while not checkpoint.exists() and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reached = torch.load(checkpoint, weights_only=True)["iteration"]
    assert reached < 150
    assert snakemake(run, config, "--unlock").returncode == 0
    result = snakemake(run, config, "--rerun-incomplete")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from results/gan/long/checkpoint/last.pt at iteration" in (run / "logs/gan/long/train.log").read_text()
    assert len(pd.read_csv(run / "results/gan/long/losses.tsv", sep="\t")) == 150


def test_biogans_config_runs_unchanged_apart_from_length(tmp_path):
    """The paper-scale config on a LIN-layout folder of PNGs, cut to one iteration of batch 2."""
    for split in ("train", "test"):
        for protein in ("Alp14", "Tea1"):
            folder = tmp_path / f"data/LIN_Normalized_WT_size-48-80_{split}/{protein}"
            folder.mkdir(parents=True)
            for i in range(6):
                rgb = np.random.default_rng(i).integers(0, 255, (48, 80, 3), dtype=np.uint8)
                Image.fromarray(rgb).save(folder / f"cell{i:06d}.png")
    config = yaml.safe_load((REPO / "config/biogans.yaml").read_text())
    config["gan"]["starshaped_wgangp"] |= {"iterations": 1, "batch_size": 2, "n_samples": 2}
    config["augment_images"]["lin_starshaped"] |= {"fractions": [1.0], "seeds": [0, 1], "classifier": {"epochs": 1}}
    result = snakemake(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    synthetic = load_tile_store(tmp_path / "results/gan/starshaped_wgangp/synthetic.npz")
    assert synthetic["images"].shape == (4, 2, 48, 80) and list(synthetic["classes"]) == ["Alp14", "Tea1"]
