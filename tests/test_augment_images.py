"""Image augmentation experiment: subsampling, synthetic counts, metrics, paired summaries and a real workflow run."""

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from dlbio.augment.images import (
    arm_metrics,
    class_aware_generator,
    draw_synthetic,
    experiment_run,
    log_verdicts,
    stratified_subsample,
    summarize,
    summary_record,
    synthetic_counts,
)
from dlbio.config_checks import check_image_experiments
from dlbio.data.tiles import load_tile_store
from dlbio.errors import InputError
from dlbio.evaluate.effect import verdict
from dlbio.models.dcgan import build_gan
from helpers import REPO, load_config, snakemake

CLASSES = np.array(["a", "b", "c"])
KEY = "augment_images.x.fractions"
CPU = torch.device("cpu")


def test_subsample_is_stratified_seeded_and_nested():
    labels = np.repeat([0, 1, 2], [10, 20, 3])
    half = stratified_subsample(labels, 0.5, 7, CLASSES, KEY)
    assert np.bincount(labels[half]).tolist() == [5, 10, 2]  # 1.5 rounds half up
    assert len(set(half)) == len(half)
    assert np.array_equal(half, stratified_subsample(labels, 0.5, 7, CLASSES, KEY))
    assert not np.array_equal(half, stratified_subsample(labels, 0.5, 8, CLASSES, KEY))
    fifth = stratified_subsample(labels, 0.2, 7, CLASSES, KEY)
    assert np.bincount(labels[fifth]).tolist() == [2, 4, 1]
    assert set(fifth) <= set(half)
    assert np.array_equal(stratified_subsample(labels, 1.0, 7, CLASSES, KEY), np.arange(len(labels)))


@pytest.mark.parametrize(
    "counts, message",
    [
        (
            [10, 20, 3],
            "config key 'augment_images.x.fractions': fraction 0.1 keeps 0 of the 3 training tiles of 'c'; "
            "use fractions of at least 0.167",
        ),
        ([10, 20, 0], "fraction 0.1 keeps 0 of the 0 training tiles of 'c'; the tile store has none"),
    ],
)
def test_a_class_left_without_tiles_is_an_error(counts, message):
    labels = np.repeat([0, 1, 2], counts)
    with pytest.raises(InputError) as err:
        stratified_subsample(labels, 0.1, 0, CLASSES, KEY)
    assert message in str(err.value)


def test_synthetic_counts_follow_the_ratio_with_at_least_one():
    assert synthetic_counts([5, 10, 1], 1.0).tolist() == [5, 10, 1]
    assert synthetic_counts([5, 10, 1], 0.5).tolist() == [3, 5, 1]
    assert synthetic_counts([5, 10, 1], 0.01).tolist() == [1, 1, 1]
    assert synthetic_counts([5, 10, 1], 2).tolist() == [10, 20, 2]


def test_synthetic_draws_come_from_each_class_tower(tmp_path):
    run = {"arch": "dcgan-starshaped", "width": 2, "nz": 8}
    generator, _ = build_gan(run["arch"], 3, 2, (16, 16), run["width"], run["nz"])
    torch.save(generator.state_dict(), tmp_path / "g.pt")
    generator = class_aware_generator(tmp_path / "g.pt", run, CLASSES, 2, (16, 16), CPU, "augment_images.x.gan_run")
    tiles, labels = draw_synthetic(generator, np.array([3, 1, 2]), 5, CPU)
    assert tiles.shape == (6, 2, 16, 16) and tiles.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 2, 2]
    again, _ = draw_synthetic(generator, np.array([3, 1, 2]), 5, CPU)
    assert np.array_equal(tiles, again)


def test_a_pooled_generator_is_rejected(tmp_path):
    run = {"arch": "dcgan", "width": 2, "nz": 8}
    generator, _ = build_gan(run["arch"], 3, 2, (16, 16), run["width"], run["nz"])
    torch.save(generator.state_dict(), tmp_path / "g.pt")
    with pytest.raises(InputError, match="config key 'augment_images.x.gan_run': the generator of arch 'dcgan' has 1"):
        class_aware_generator(tmp_path / "g.pt", run, CLASSES, 2, (16, 16), CPU, "augment_images.x.gan_run")


def test_metrics_of_hand_made_predictions():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    m = arm_metrics(y_true, y_pred, CLASSES)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["sensitivity/a"] == pytest.approx(3 / 4) and m["sensitivity/c"] == pytest.approx(1 / 2)
    assert m["specificity/a"] == pytest.approx(3 / 4)  # one of the four non-a tiles called a
    assert m["specificity/b"] == pytest.approx(5 / 6) and m["specificity/c"] == 1
    f1 = [2 * 3 / (2 * 3 + 1 + 1), 2 * 2 / (2 * 2 + 1), 2 * 1 / (2 * 1 + 1)]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))


def hand_made_runs():
    """Two fractions × three seeds × two arms with known accuracies."""
    real = {(0.1, 0): 0.5, (0.1, 1): 0.6, (0.1, 2): 0.7, (1.0, 0): 0.9, (1.0, 1): 0.9, (1.0, 2): 0.9}
    gain = {(0.1, 0): 0.1, (0.1, 1): 0.2, (0.1, 2): 0.3, (1.0, 0): 0.0, (1.0, 1): -0.02, (1.0, 2): 0.02}
    rows = []
    for (fraction, seed), acc in real.items():
        for arm, value in [("real", acc), ("real+synthetic", acc + gain[fraction, seed])]:
            rows.append(
                {
                    "fraction": fraction,
                    "seed": seed,
                    "arm": arm,
                    "n_real": 10,
                    "n_synthetic": 0,
                    "accuracy": value,
                    "macro_f1": value / 2,
                }
            )
    return pd.DataFrame(rows).sample(frac=1, random_state=0)  # any row order


def test_summary_pairs_the_arms_by_seed():
    summary = summarize(hand_made_runs()).set_index(["fraction", "metric"])
    low = summary.loc[(0.1, "accuracy")]
    assert low["n_seeds"] == 3
    assert low["real_mean"] == pytest.approx(0.6) and low["real_std"] == pytest.approx(0.1)
    assert low["real+synthetic_mean"] == pytest.approx(0.8) and low["real+synthetic_std"] == pytest.approx(0.2)
    assert low["delta_mean"] == pytest.approx(0.2) and low["delta_std"] == pytest.approx(0.1)
    assert summary.loc[(0.1, "macro_f1"), "delta_mean"] == pytest.approx(0.1)
    high = summary.loc[(1.0, "accuracy")]
    assert high["delta_mean"] == pytest.approx(0) and high["delta_std"] == pytest.approx(0.02)
    assert (verdict(low["delta_mean"], low["delta_std"]), verdict(high["delta_mean"], high["delta_std"])) == (
        "improved",
        "no clear effect",
    )
    assert verdict(-0.2, 0.1) == "worse"
    assert verdict(0.01, float("nan")) == "improved"  # one seed: no spread


def test_unpaired_runs_are_an_error():
    runs = hand_made_runs()
    with pytest.raises(InputError, match=r"runs without both arms \(fraction, seed\): \[\(1.0, 2\)\]"):
        summarize(runs[~((runs["fraction"] == 1.0) & (runs["seed"] == 2) & (runs["arm"] == "real"))])


def test_summary_record_is_flat_with_the_headline():
    record = summary_record(summarize(hand_made_runs()), "x", "star", 1.0)
    assert all(not isinstance(v, (list, dict)) for v in record.values())
    assert record["fraction_0.1/accuracy/delta_mean"] == pytest.approx(0.2)
    assert record["fraction_1/accuracy/verdict"] == "no clear effect"
    assert (record["headline_fraction"], record["headline_metric"], record["headline_verdict"]) == (
        0.1,
        "macro_f1",
        "improved",
    )
    assert record["headline_delta_mean"] == pytest.approx(0.1)


def test_the_log_says_plainly_when_synthetic_data_did_not_help(caplog):
    runs = hand_made_runs()
    runs["arm"] = runs["arm"].map({"real": "real+synthetic", "real+synthetic": "real"})  # synthetic now hurts
    with caplog.at_level(logging.INFO):
        log_verdicts(summarize(runs))
    assert "fraction 0.1, accuracy: real 0.800 ± 0.200, real+synthetic 0.600 ± 0.100, difference -0.200" in caplog.text
    assert "synthetic tiles made it worse" in caplog.text
    assert "fraction 1, macro_f1" in caplog.text and "did not clearly help" in caplog.text
    assert "Synthetic data did not help" in caplog.text


@pytest.mark.workflow
@pytest.mark.parametrize(
    "run, message",
    [
        (None, "config key 'augment_images.x.gan_run': 'star' is not a gan run; known: none"),
        ({"arch": "dcgan-separable", "classes": None}, "run 'star' has arch 'dcgan-separable', whose generator pools"),
        ({"arch": "dcgan-starshaped", "classes": ["Tea1"]}, "run 'star' is trained on one class (['Tea1'])"),
    ],
)
def test_config_check_names_the_key(run, message):
    config = {"gan": {"star": run} if run else {}, "augment_images": {"x": {"gan_run": "star"}}}
    with pytest.raises(InputError) as err:
        check_image_experiments(config)
    assert message in str(err.value)


# ---------------------------------------------------------------- real workflow runs


def tiny_config():
    """tests/configs/images_sim.yaml and augment_images_tiny.yaml: a two-iteration GAN, two fractions × two seeds."""
    return load_config("images_sim", "augment_images_tiny")


FRACTIONS, SEEDS = (tiny_config()["augment_images"]["tiny"][key] for key in ("fractions", "seeds"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("augment_images")
    result = snakemake(workdir, tiny_config(), "results/augment/images/tiny/summary.json")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.workflow
def test_runs_table_has_every_fraction_seed_and_arm(run):
    out = run / "results/augment/images/tiny"
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    assert sorted(zip(runs["fraction"], runs["seed"], runs["arm"])) == sorted(
        (f, s, a) for f in FRACTIONS for s in SEEDS for a in ("real", "real+synthetic")
    )
    # 8 training tiles per class: 4 or 8 real, half as many synthetic
    sizes = runs.groupby(["fraction", "arm"])[["n_real", "n_synthetic"]].first()
    assert sizes.loc[(0.5, "real")].tolist() == [24, 0] and sizes.loc[(0.5, "real+synthetic")].tolist() == [24, 12]
    assert sizes.loc[(1.0, "real+synthetic")].tolist() == [48, 24]
    classes = ["Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1"]
    assert {f"{m}/{c}" for m in ("sensitivity", "specificity") for c in classes} < set(runs.columns)
    metrics = runs[["accuracy", "macro_f1"] + [f"sensitivity/{c}" for c in classes]].to_numpy()
    assert ((metrics >= 0) & (metrics <= 1)).all()


@pytest.mark.workflow
def test_summary_has_paired_differences_for_every_fraction(run):
    out = run / "results/augment/images/tiny"
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    summary = pd.read_csv(out / "summary.tsv", sep="\t").set_index(["fraction", "metric"])
    for fraction in FRACTIONS:
        acc = runs[runs["fraction"] == fraction].pivot(index="seed", columns="arm", values="accuracy")
        row = summary.loc[(fraction, "accuracy")]
        assert row["n_seeds"] == len(SEEDS)
        assert row["delta_mean"] == pytest.approx((acc["real+synthetic"] - acc["real"]).mean(), abs=2e-4)
        assert row["delta_std"] == pytest.approx((acc["real+synthetic"] - acc["real"]).std(), abs=2e-4)
    record = json.loads((out / "summary.json").read_text())
    assert record["headline_fraction"] == 0.5 and record["gan_run"] == "star"
    assert record["headline_verdict"] in ("improved", "worse", "no clear effect")
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    log = (run / "logs/augment/images/tiny/summary.log").read_text()
    assert "fraction 0.5, macro_f1: real" in log


@pytest.mark.workflow
def test_a_fraction_that_empties_a_class_fails_before_training(run):
    config = tiny_config()
    gan_run, cfg = config["gan"]["star"] | {"classes": None}, config["augment_images"]["tiny"]
    store = load_tile_store(run / "results/images/sim/tiles.npz")
    generator = run / "results/gan/star/generator.pt"
    with pytest.raises(InputError) as err:
        experiment_run(store, generator, gan_run, 0.01, 0, 1.0, cfg["classifier"], CPU, "tiny")
    assert "config key 'augment_images.tiny.fractions': fraction 0.01 keeps 0 of the 8 training tiles" in str(err.value)


@pytest.mark.workflow
def test_a_pooled_gan_run_is_a_config_error(tmp_path):
    config = tiny_config()
    config["gan"]["star"]["arch"] = "dcgan"
    result = snakemake(tmp_path, config)
    assert result.returncode != 0
    assert "config key 'augment_images.tiny.gan_run': run 'star' has arch 'dcgan'" in result.stderr
    assert not (tmp_path / "results").exists()


def test_paper_scale_experiment_plans_every_fraction_and_seed(tmp_path):
    config = yaml.safe_load((REPO / "config/biogans.yaml").read_text())
    for split in ("train", "test"):
        (tmp_path / f"{config['images']['lin']['folder']}_{split}").mkdir(parents=True)
    result = snakemake(tmp_path, config, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"augment_images_run\s+15\n", result.stdout + result.stderr)
