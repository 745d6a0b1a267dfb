"""C2ST: real vs real sits at the floor, real vs noise far from it; the verdict; per class; determinism; bad input."""

import numpy as np
import pytest
import torch

from dlbio.errors import InputError
from dlbio.evaluate.c2st import (
    INCONCLUSIVE,
    MIN_TILES,
    c2st_accuracy,
    c2st_floor,
    c2st_per_class,
    c2st_repeated,
    c2st_wasserstein,
    verdict,
)

PARAMS = {"iterations": 100, "batch_size": 16, "width": 8, "lr": 1e-3}
SEEDS = [0, 1]


def cells(n, seed, size=16, spot=5):
    """uint8 (n, 2, size, size): dim background, a bright red square with a green core at a random place."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, (n, 2, size, size), dtype=np.uint8)
    for i, (r, c) in enumerate(rng.integers(0, size - spot, (n, 2))):
        x[i, 0, r : r + spot, c : c + spot] += 180
        x[i, 1, r + 1 : r + spot - 1, c + 1 : c + spot - 1] += 120
    return x


def noise(n, seed, size=16):
    return np.random.default_rng(seed).integers(0, 256, (n, 2, size, size), dtype=np.uint8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny nets: a second thread only adds overhead (and spins when the cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def real():
    return cells(64, 0)


@pytest.fixture(scope="module")
def floor(real):
    return c2st_floor(real, PARAMS, "cpu", SEEDS)


def test_real_vs_real_is_at_the_floor(real, floor):
    same = c2st_repeated(real, cells(64, 1), PARAMS, "cpu", SEEDS)
    for result in (same, floor):
        assert abs(result["wasserstein_mean"]) < 0.5
        assert abs(result["accuracy_mean"] - 0.5) < 0.15
        assert result["seeds"] == SEEDS and len(result["wasserstein"]) == len(result["accuracy"]) == 2
    assert abs(same["wasserstein_mean"] - floor["wasserstein_mean"]) < 0.5
    assert (same["n_real"], same["n_fake"], floor["n_real"]) == (64, 64, 64)


@pytest.mark.parametrize("name", ["noise", "blank"])
def test_real_vs_noise_or_blank_is_far_from_the_floor(real, floor, name):
    fake = noise(64, 2) if name == "noise" else np.zeros_like(real)
    result = c2st_repeated(real, fake, PARAMS, "cpu", SEEDS)
    assert result["wasserstein_mean"] > floor["wasserstein_mean"] + 3
    assert result["accuracy_mean"] > 0.95
    assert np.std(result["wasserstein"]) == pytest.approx(result["wasserstein_std"])
    assert result["train_accuracy_mean"] > 0.95 and len(result["train_wasserstein"]) == 2
    assert verdict(result, floor) == "separable"


def test_critic_given_too_few_steps_is_inconclusive_on_noise(real):
    few = PARAMS | {"iterations": 1, "lr": 1e-6}  # the critic barely moves from its initialisation
    result, floor = c2st_repeated(real, noise(64, 2), few, "cpu", SEEDS), c2st_floor(real, few, "cpu", SEEDS)
    assert abs(result["train_wasserstein_mean"]) < 0.01 and result["train_accuracy_mean"] < 0.6
    assert verdict(result, floor) == INCONCLUSIVE


def test_critic_that_memorises_its_halves_finds_real_vs_real_indistinguishable():
    real, memorise = cells(32, 0), PARAMS | {"batch_size": 8, "lr": 3e-3}  # 16 tiles a half: easy to memorise
    result, floor = c2st_repeated(real, cells(32, 1), memorise, "cpu", SEEDS), c2st_floor(real, memorise, "cpu", SEEDS)
    assert result["train_accuracy_mean"] > 0.7 and result["train_wasserstein_mean"] > 0.5
    assert abs(result["accuracy_mean"] - 0.5) < 0.1
    assert verdict(result, floor) == "indistinguishable"


def test_same_seed_same_value_and_global_rng_untouched(real):
    short = PARAMS | {"iterations": 10}
    fake = noise(20, 3)
    state = torch.get_rng_state()
    first = c2st_wasserstein(real, fake, short, "cpu", seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    repeated = c2st_repeated(real, fake, short, torch.device("cpu"), [5, 6])
    assert repeated["wasserstein"][0] == first  # one seed, one split: the single test and the repeats agree
    assert repeated["wasserstein"][1] != first
    assert repeated["accuracy"][0] == c2st_accuracy(real, fake, short, "cpu", 5)


def test_per_class_scores_every_class_beside_its_floor():
    real = np.concatenate([cells(24, 0), cells(24, 1, spot=9)])
    fake = np.concatenate([cells(16, 2), noise(16, 3)])  # class "good" looks real, class "bad" is noise
    real_labels, fake_labels = np.repeat([0, 1], 24), np.repeat([0, 1], 16)
    short = PARAMS | {"iterations": 50}  # 2 classes × 2 seeds × 2 tests × (c2st + floor) = 16 critics
    result = c2st_per_class(real, real_labels, fake, fake_labels, ["good", "bad"], short, "cpu", SEEDS)
    assert list(result["classes"]) == ["good", "bad"] and set(result["mean"]) == {"c2st", "floor"}
    good, bad = result["classes"]["good"], result["classes"]["bad"]
    assert (good["c2st"]["n_real"], good["c2st"]["n_fake"], good["floor"]["n_real"]) == (24, 16, 24)
    assert bad["c2st"]["wasserstein_mean"] > good["c2st"]["wasserstein_mean"] + 3
    assert bad["c2st"]["accuracy_mean"] > 0.95 and verdict(bad["c2st"], bad["floor"]) == "separable"
    for kind in ("c2st", "floor"):
        per_split = (np.array(good[kind]["wasserstein"]) + bad[kind]["wasserstein"]) / 2
        assert result["mean"][kind]["wasserstein"] == pytest.approx(per_split.tolist())
        assert result["mean"][kind]["wasserstein_mean"] == pytest.approx(per_split.mean())
    assert abs(good["floor"]["wasserstein_mean"]) < 1 and abs(bad["floor"]["wasserstein_mean"]) < 1
    assert result["mean"]["c2st"]["n_real"] == 48 and result["mean"]["c2st"]["n_fake"] == 32


def test_bad_input_fails_before_training(real):
    with pytest.raises(InputError, match=r"\(C, H, W\) = \(2, 16, 16\) but generated ones \(1, 16, 16\)"):
        c2st_repeated(real, real[:, :1], PARAMS, "cpu", SEEDS)
    with pytest.raises(InputError, match=f"generated set has 3 tiles; at least {MIN_TILES}"):
        c2st_wasserstein(real, real[:3], PARAMS, "cpu", 0)
    with pytest.raises(InputError, match=f"real set has 7 tiles; at least {2 * MIN_TILES}"):
        c2st_floor(real[:7], PARAMS, "cpu", SEEDS)
    with pytest.raises(InputError, match="uint8 array"):
        c2st_accuracy(real.astype(np.float32), real, PARAMS, "cpu", 0)
    with pytest.raises(InputError, match=r"missing \[\], unknown \['repeats'\]"):
        c2st_repeated(real, real, PARAMS | {"repeats": 3}, "cpu", SEEDS)
    with pytest.raises(InputError, match=r"missing \['lr', 'width'\], unknown \[\]"):  # the config holds the defaults
        c2st_floor(real, {"iterations": 10, "batch_size": 8}, "cpu", SEEDS)
    with pytest.raises(InputError, match="'iterations' must be a positive integer"):
        c2st_repeated(real, real, PARAMS | {"iterations": 0}, "cpu", SEEDS)
    with pytest.raises(InputError, match="at least one seed"):
        c2st_repeated(real, real, PARAMS, "cpu", [])
    labels = np.arange(64) % 2
    with pytest.raises(InputError, match=r"too few in b \(5 real, 32 generated\)"):
        c2st_per_class(real[:35], np.arange(35) >= 30, real, labels, ["a", "b"], PARAMS, "cpu", SEEDS)
    with pytest.raises(InputError, match="64 generated tiles but generated labels of shape"):
        c2st_per_class(real, labels, real, labels[:10], ["a", "b"], PARAMS, "cpu", SEEDS)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(real):
    value = c2st_wasserstein(real, noise(64, 2), PARAMS, "cuda", 0)
    assert value > 3
