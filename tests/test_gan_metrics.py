"""GAN evaluation metrics: domain-feature FID/PRDC, mode coverage, cell lengths, snapshots, size checks."""

import numpy as np
import pytest
import torch

from dlbio.data.simulate_lin import simulate_lin
from dlbio.data.tiles import build_tile_store, list_images, training_tiles
from dlbio.errors import InputError
from dlbio.evaluate.cell_stats import cell_length, cell_lengths, latent_lengths, length_distance
from dlbio.evaluate.domain_metrics import domain_metrics
from dlbio.evaluate.c2st import INCONCLUSIVE
from dlbio.evaluate.gan_evaluation import HELD_OUT, GANEvaluation, flat_c2st
from dlbio.evaluate.mode_coverage import class_agreement, mode_coverage, total_variation
from dlbio.models.dcgan import build_gan
from dlbio.train.gan import GANTrainer, snapshot_files, snapshot_iterations
from dlbio.train.tile_classifier import fit_tile_classifier, predict_tiles
from helpers import TILE_CLASSIFIER as PARAMS
from helpers import tiny_data, tiny_run, toy_tiles

CPU = torch.device("cpu")
KID = {"nearest_k": 5, "kid_subsets": 100, "kid_subset_size": 50, "seed": 0}  # the evaluation.* keys


@pytest.fixture(scope="module")
def toy():
    """A classifier of the three toy classes and held-out tiles of each."""
    images, labels = toy_tiles(40, seed=0)
    classifier = fit_tile_classifier(images, labels, 3, PARAMS, CPU, seed=0)
    return classifier, *toy_tiles(30, seed=1)


def test_fid_of_a_set_with_itself_is_zero(toy):
    classifier, images, labels = toy
    same = domain_metrics(classifier, images, images, CPU, **KID)
    assert same["fid"] == pytest.approx(0, abs=1e-3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1
    other = domain_metrics(classifier, images[labels == 0], images[labels == 1], CPU, **KID)
    assert other["fid"] > 100 * max(same["fid"], 1e-3) and other["kid"] > 0
    assert other["precision"] < 0.2 and other["coverage"] < 0.2


def test_kid_is_reproducible_and_prdc_needs_enough_tiles(toy):
    classifier, images, labels = toy
    a, b = images[labels == 0], images[labels == 2]
    small = KID | {"kid_subsets": 5, "kid_subset_size": 10, "seed": 3}
    first = domain_metrics(classifier, a, b, CPU, **small)
    assert domain_metrics(classifier, a, b, CPU, **small) == first
    with pytest.raises(InputError, match="more than nearest_k = 5 tiles"):
        domain_metrics(classifier, a, b[:5], CPU, **KID)


def test_mode_coverage_detects_a_generator_of_one_class(toy):
    classifier, images, labels = toy
    target = np.bincount(labels) / len(labels)
    collapsed = mode_coverage(predict_tiles(classifier, images[labels == 1], CPU), target, ["a", "b", "c"])
    assert collapsed["mode_tv"] == pytest.approx(1 - target[1], abs=0.05)
    assert collapsed["modes_covered"] == 1 and collapsed["assigned/b"] > 0.95
    fair = mode_coverage(predict_tiles(classifier, images, CPU), target, ["a", "b", "c"])
    assert fair["mode_tv"] < 0.05 and fair["modes_covered"] == 3
    assert class_agreement(predict_tiles(classifier, images, CPU), labels) > 0.95


def test_total_variation():
    assert total_variation([0.5, 0.5, 0], [0.5, 0.5, 0]) == 0
    assert total_variation([1, 0], [0, 1]) == 1
    assert total_variation([0.2, 0.8], [0.5, 0.5]) == pytest.approx(0.3)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lin") / "simulated"
    simulate_lin(folder, n_per_class=6, size=(48, 80), seed=3)
    store, _ = build_tile_store(list_images(folder, None), [0, 1], (48, 80), "crop", "dtype", 0.2, 0, threads=1)
    return folder, store


def test_cell_length_follows_the_simulated_ground_truth(simulated):
    folder, store = simulated
    measured, truth = cell_lengths(store["images"]), latent_lengths(store["paths"], folder)
    assert np.corrcoef(measured, truth)[0, 1] > 0.99
    offset = np.median(measured - truth)  # blur widens the outline by a few pixels
    assert 2 < offset < 8 and np.abs(measured - truth - offset).max() < 3
    assert np.isnan(cell_length(np.zeros((48, 80), np.uint8)))


def test_length_distance_is_the_shift_and_ignores_blank_tiles():
    lengths = np.array([40.0, 50.0, 60.0])
    assert length_distance(lengths, lengths + 4) == pytest.approx(4)
    assert length_distance(lengths, np.r_[lengths, np.nan]) == 0
    assert np.isnan(length_distance(lengths, [np.nan]))


def test_latent_lengths_name_a_missing_tile(simulated):
    folder, store = simulated
    with pytest.raises(InputError, match="latent.tsv has no row for 1 tiles"):
        latent_lengths([*store["paths"][:2], str(folder / "Alp14/extra.tif")], folder)


def test_snapshots_are_bounded_evenly_spaced_and_end_with_the_last_iteration():
    assert snapshot_iterations(600, 100, 6) == [100, 200, 300, 400, 500, 600]
    assert snapshot_iterations(50000, 1000, 10)[-1] == 50000 and len(snapshot_iterations(50000, 1000, 10)) == 10
    assert snapshot_iterations(7, 2, 10) == [2, 4, 6, 7]
    assert snapshot_iterations(600, 100, 1) == [600]


def test_snapshots_survive_a_resume_and_are_exported(tmp_path):
    images, labels = tiny_data()
    run = tiny_run(iterations=4, max_snapshots=2)
    first = GANTrainer(run | {"iterations": 2}, images, labels, 2, CPU, tmp_path / "checkpoint")
    first.snapshot_at = snapshot_iterations(4, 1, 2)  # the full run's schedule, stopped half way
    first.train()
    resumed = GANTrainer(run, images, labels, 2, CPU, tmp_path / "checkpoint")
    resumed.train()
    assert resumed.export_snapshots(tmp_path / "out") == [1, 4]
    files = snapshot_files(tmp_path / "out")
    assert [i for i, _ in files] == [1, 4]
    final = torch.load(files[-1][1], weights_only=True)
    assert all(torch.equal(final[k], v) for k, v in resumed.generator.state_dict().items())


def toy_store(n_test_per_class):
    images, labels = toy_tiles(10 + n_test_per_class, seed=0, size=(16, 32))
    split = np.tile(np.r_[np.full(10, "train"), np.full(n_test_per_class, "test")], 3)
    paths = np.array([f"tile{i}.png" for i in range(len(images))])
    return {"images": images, "labels": labels, "classes": np.array(["a", "b", "c"]), "split": split, "paths": paths}


def test_too_small_a_test_set_is_named_before_any_scoring(toy, tmp_path):
    classifier = toy[0]
    run = {"name": "star", "dataset": "toy", "arch": "dcgan-starshaped", "classes": None, "width": 4, "nz": 8,
           "iterations": 1, "algorithm": "gan"}  # fmt: skip
    generator, _ = build_gan("dcgan-starshaped", 3, 2, (16, 32), width=4, nz=8)
    torch.save(generator.state_dict(), tmp_path / "generator.pt")
    params = {"nearest_k": 5, "n_generated": 30, "seed": 0}
    small = GANEvaluation(run, toy_store(4), classifier, params, CPU)
    with pytest.raises(
        InputError, match=r"≥ 8 real test tiles per compared set .* too few in a \(4\), b \(4\), c \(4\)"
    ):
        small.generate(tmp_path / "generator.pt")
    few = GANEvaluation(run, toy_store(8), classifier, params | {"n_generated": 9}, CPU)
    with pytest.raises(InputError, match="'evaluation.n_generated' = 9 gives 3 tiles per generator output"):
        few.generate(tmp_path / "generator.pt")
    tiles, outputs, conditional = GANEvaluation(run, toy_store(8), classifier, params, CPU).generate(
        tmp_path / "generator.pt"
    )
    assert tiles.shape == (30, 2, 16, 32) and conditional and list(np.bincount(outputs)) == [10, 10, 10]


@pytest.mark.slow
def test_pooled_generator_is_scored_with_its_snapshots(toy, tmp_path):
    classifier = toy[0]
    run = {"name": "pooled", "dataset": "toy", "arch": "dcgan", "classes": None, "width": 4, "nz": 8,
           "iterations": 2, "algorithm": "wgan-gp"}  # fmt: skip
    for i in (1, 2):
        torch.manual_seed(i)
        torch.save(build_gan("dcgan", 3, 2, (16, 32), width=4, nz=8)[0].state_dict(), tmp_path / f"iter_{i:07d}.pt")
    c2st = {"iterations": 2, "batch_size": 4, "width": 4, "lr": None, "repeats": 2, "snapshots": True}
    params = {"nearest_k": 5, "n_generated": 24, "seed": 0, "kid_subsets": 5, "kid_subset_size": 10, "c2st": c2st}
    evaluation = GANEvaluation(run, toy_store(10), classifier, params, CPU)
    summary, table, fake, rows = evaluation.evaluate(tmp_path / "iter_0000002.pt", snapshot_files(tmp_path))
    assert summary["n_real"] == 30 and summary["n_generated"] == 24 and fake.shape == (24, 2, 16, 32)
    # untrained generators, a 2-step critic (as a 100-iteration GAN with C2ST at 0.50 ± 0.00): no C2ST number
    assert summary["c2st_verdict"] == INCONCLUSIVE and summary["c2st_train_accuracy_mean"] < 0.6
    assert summary["c2st_accuracy_mean"] is None and summary["c2st_wasserstein_std"] is None
    assert 0 <= summary["floor_accuracy_mean"] <= 1
    assert summary["modes_expected"] == 3 and 0 <= summary["mode_tv"] <= 1
    assert "class_agreement" not in summary and not any("/" in k and "assigned" not in k for k in summary)
    assert list(table["iteration"]) == [1, 2] and table["c2st_wasserstein_mean"].isna().all()
    assert (table["c2st_verdict"] == INCONCLUSIVE).all()
    assert table.loc[1, "fid"] == summary["fid"]
    assert set(rows) <= {-1, 0, 1, 2} and len(rows) == 24


def test_flat_c2st_blanks_the_held_out_scores_of_an_inconclusive_test_only():
    floor = {"wasserstein_mean": 0.1, "wasserstein_std": 0.1, "accuracy_mean": 0.5, "accuracy_std": 0.05}
    floor |= {"train_wasserstein_mean": 0.2, "train_accuracy_mean": 0.8}
    learned = {"wasserstein_mean": 5.0, "wasserstein_std": 0.5, "accuracy_mean": 0.9, "accuracy_std": 0.02}
    learned |= {"train_wasserstein_mean": 6.0, "train_accuracy_mean": 0.95}
    separable = flat_c2st({"c2st": learned, "floor": floor}, "/a")
    assert separable["c2st_verdict/a"] == "separable" and separable["c2st_wasserstein_mean/a"] == 5.0
    stuck = flat_c2st({"c2st": learned | {"train_wasserstein_mean": 0.05}, "floor": floor})  # a critic near its init
    assert stuck["c2st_verdict"] == INCONCLUSIVE and stuck["c2st_train_wasserstein_mean"] == 0.05
    assert all(stuck[f"c2st_{k}"] is None for k in HELD_OUT) and stuck["floor_accuracy_mean"] == 0.5
    assert flat_c2st({"c2st": learned | {"train_accuracy_mean": 0.55}, "floor": floor})["c2st_verdict"] == INCONCLUSIVE
    chance = flat_c2st({"c2st": learned | {"accuracy_mean": 0.55}, "floor": floor})
    assert chance["c2st_verdict"] == "indistinguishable" and chance["c2st_accuracy_mean"] == 0.55


def test_real_tiles_of_a_split_keep_the_run_class_order():
    store = toy_store(2)  # per class: 10 train then 2 test tiles
    images, labels, classes = training_tiles(store, ["c", "a"], split="test")
    assert list(classes) == ["c", "a"] and list(labels) == [1, 1, 0, 0]
    np.testing.assert_array_equal(images, store["images"][[10, 11, 34, 35]])
