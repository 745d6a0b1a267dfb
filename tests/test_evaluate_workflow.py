"""Real Snakemake run of GAN evaluation: tile classifier → generator snapshots → evaluation.json, table, figures."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from dlbio.evaluate.c2st import INCONCLUSIVE
from dlbio.evaluate.gan_evaluation import HELD_OUT as HELD_OUT_KEYS
from helpers import snakemake

pytestmark = pytest.mark.workflow

CLASSES = ["Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1"]
SMALL = {"iterations": 4, "batch_size": 4, "width": 4, "nz": 8, "checkpoint_every": 1, "n_samples": 2,
         "max_snapshots": 2}
EVALUATION = {
    "enabled": True,
    "classifier": {"width": 4, "epochs": 2, "batch_size": 16},
    "n_generated": 48,
    "kid_subsets": 10,
    "c2st": {"iterations": 3, "batch_size": 4, "width": 4, "repeats": 2},  # too few steps: the critic learns nothing
}
HELD_OUT = [f"c2st_{key}" for key in HELD_OUT_KEYS]


def evaluate_config():
    return {
        "images": {"sim": {"simulate": {"n_per_class": 20, "seed": 1}, "size": [32, 48], "test_fraction": 0.4}},
        "gan": {"star": {"dataset": "sim", "arch": "dcgan-starshaped", "algorithm": "gan", **SMALL}},
        "evaluation": EVALUATION,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluate")
    result = snakemake(workdir, evaluate_config(), "results/gan/evaluation_sim.tsv")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def evaluation(workdir, name):
    return json.loads((workdir / f"results/gan/{name}/evaluation.json").read_text())


def test_classifier_is_scored_on_the_real_test_tiles(run):
    out = run / "results/images/sim/classifier"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == 48 and 0 <= metrics["accuracy"] <= 1
    assert len(pd.read_csv(out / "predictions.tsv", sep="\t")) == 120
    assert Image.open(out / "confusion.png").size[0] > 100


def test_star_shaped_run_has_every_score_per_class(run):
    result = evaluation(run, "star")
    assert {k: result[k] for k in ("run", "dataset", "arch", "algorithm", "iterations", "n_real", "n_generated")} == {
        "run": "star", "dataset": "sim", "arch": "dcgan-starshaped", "algorithm": "gan", "iterations": 4,
        "n_real": 48, "n_generated": 48,
    }  # fmt: skip
    for key in ("c2st_train_wasserstein_mean", "c2st_train_accuracy_mean", "floor_wasserstein_mean",
                "floor_accuracy_mean", "fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
                "mode_tv", "class_agreement"):  # fmt: skip
        assert np.isfinite(result[key]), key
        for c in CLASSES:
            if key != "mode_tv":
                assert np.isfinite(result[f"{key}/{c}"]), f"{key}/{c}"
    # 4 iterations draw no cell yet: no length to compare is null, not NaN (invalid JSON)
    assert 0 <= result["cell_unmeasured"] <= 1
    assert (result["cell_length_wasserstein"] is None) == (result["cell_unmeasured"] == 1)
    assert 0 <= result["c2st_train_accuracy_mean"] <= 1 and 0 <= result["mode_tv"] <= 1
    # a 3-step critic: the verdict says so and no held-out C2ST score reads as "indistinguishable"
    for suffix in ["", *(f"/{c}" for c in CLASSES)]:
        if result[f"c2st_verdict{suffix}"] == INCONCLUSIVE:
            assert all(result[f"{key}{suffix}"] is None for key in HELD_OUT), suffix
        else:
            assert all(np.isfinite(result[f"{key}{suffix}"]) for key in HELD_OUT), suffix
    assert result["c2st_verdict"] == INCONCLUSIVE
    assert result["cell_length_latent_r"] > 0.95  # the length measurement follows the simulation's ground truth
    assert sum(result[f"assigned/{c}"] for c in CLASSES) == pytest.approx(1)


def test_scores_per_snapshot_and_the_table(run):
    star = pd.read_csv(run / "results/gan/star/scores.tsv", sep="\t")
    assert list(star["iteration"]) == [1, 4]  # max_snapshots = 2: evenly spaced, the last one included
    final = evaluation(run, "star")
    assert star["fid"].iloc[-1] == pytest.approx(final["fid"])
    assert star["c2st_verdict"].isna().iloc[0] and star["c2st_verdict"].iloc[-1] == INCONCLUSIVE
    assert star["c2st_wasserstein_mean"].isna().all() and np.isfinite(star["floor_wasserstein_mean"].iloc[-1])
    snapshots = sorted(p.name for p in (run / "results/gan/star/snapshots").glob("*.pt"))
    assert snapshots == ["iter_0000001.pt", "iter_0000004.pt"]
    weights = torch.load(run / "results/gan/star/snapshots/iter_0000004.pt", weights_only=True)
    final_weights = torch.load(run / "results/gan/star/generator.pt", weights_only=True)
    assert all(torch.equal(weights[k], final_weights[k]) for k in final_weights)
    table = pd.read_csv(run / "results/gan/evaluation_sim.tsv", sep="\t").set_index("run")
    assert list(table.index) == ["star"]
    assert table.loc["star", "fid"] == pytest.approx(final["fid"], rel=1e-4)
    assert table.loc["star", "c2st_verdict"] == INCONCLUSIVE and table[list(HELD_OUT)].isna().all().all()
    assert not any("/" in c for c in table.columns)
    for figure in ("scores.png", "real_fake_montage.png"):
        assert Image.open(run / "results/gan/star" / figure).size[0] > 100
