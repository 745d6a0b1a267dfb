"""GAN / WGAN / WGAN-GP training: schedules, frozen opponents, resume, failures, sampling."""

import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from dlbio.data.tiles import training_tiles
from dlbio.errors import InputError
from dlbio.models.registry import GAN_ARCHS as ARCHS
from dlbio.train.adversarial import ALGORITHMS, NonFiniteLoss, algorithm_settings, critic_steps, gradient_penalty
from dlbio.train.gan import GANTrainer, sample_tiles
from helpers import tiny_data, tiny_run

CPU = torch.device("cpu")


def test_bioGAN_defaults_and_overrides():
    assert ALGORITHMS["gan"]["lr"] == 2e-4 and ALGORITHMS["gan"]["betas"] == (0.5, 0.999)
    assert ALGORITHMS["wgan"]["clip"] == 0.01 and ALGORITHMS["wgan"]["optimizer"] == "rmsprop"
    assert ALGORITHMS["wgan-gp"]["gp_lambda"] == 10 and not ALGORITHMS["wgan-gp"]["critic_batchnorm"]
    assert algorithm_settings("wgan-gp", {"lr": 5e-4, "n_critic": None})["lr"] == 5e-4
    assert "critic_warmup" not in algorithm_settings("gan", {"critic_warmup": 3})
    with pytest.raises(InputError, match="unknown GAN algorithm 'lsgan'"):
        algorithm_settings("lsgan")


def test_wgan_critic_schedule():
    wgan, gp = algorithm_settings("wgan"), algorithm_settings("wgan-gp")
    assert [critic_steps(wgan, i) for i in (0, 24, 25, 499, 500, 501, 1000)] == [100, 100, 5, 5, 100, 5, 100]
    assert {critic_steps(gp, i) for i in (0, 24, 500)} == {5}


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    real, fake, mix = torch.randn(8, 2, 4, 4), torch.randn(8, 2, 4, 4), torch.rand(8, 1, 1, 1)
    w = torch.randn(2 * 4 * 4)
    for scale, expected in ((1.0, 0.0), (3.0, 4.0)):
        critic = lambda x, s=scale: x.flatten(1) @ (s * w / w.norm())  # noqa: E731
        assert gradient_penalty(critic, real, fake, mix).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_arch_and_algorithm_trains(tmp_path, arch, algorithm):
    images, labels = tiny_data()
    trainer = GANTrainer(tiny_run(arch=arch, algorithm=algorithm), images, labels, 2, CPU, tmp_path)
    losses = trainer.train()
    assert list(losses["iteration"]) == [1, 2]
    assert np.isfinite(losses[["critic_loss", "generator_loss"]].to_numpy()).all()
    assert len(trainer.critics) == (2 if arch == "dcgan-starshaped" else 1)
    if algorithm == "wgan":
        assert max(p.abs().max().item() for p in trainer.critics.parameters()) <= 0.01
    assert sorted(p.name for p in (tmp_path / "progress").iterdir()) == ["iter_0000001.png", "iter_0000002.png"]


def snapshot(module):
    return {k: v.clone() for k, v in module.named_parameters()}


def test_each_side_trains_against_a_frozen_opponent(tmp_path):
    images, labels = tiny_data()
    trainer = GANTrainer(tiny_run(algorithm="wgan-gp"), images, labels, 2, CPU, tmp_path)
    generator, critics = snapshot(trainer.generator), snapshot(trainer.critics)
    trainer.critic_step(4)
    assert all(torch.equal(v, generator[k]) for k, v in trainer.generator.named_parameters())
    assert any(not torch.equal(v, critics[k]) for k, v in trainer.critics.named_parameters())
    critics = snapshot(trainer.critics)
    trainer.generator_step(4)
    assert all(torch.equal(v, critics[k]) for k, v in trainer.critics.named_parameters())
    assert any(not torch.equal(v, generator[k]) for k, v in trainer.generator.named_parameters())


RUNNER = """
import sys, numpy as np, torch
sys.path.insert(0, {tests!r})
from helpers import tiny_data, tiny_run
from dlbio.train.gan import GANTrainer
torch.set_num_threads(1)
images, labels = tiny_data()
run = tiny_run(arch="dcgan-starshaped", algorithm="wgan-gp", iterations=60, checkpoint_every=5)
trainer = GANTrainer(run, images, labels, 2, torch.device("cpu"), sys.argv[1])
trainer.train()
torch.save(trainer.generator.state_dict(), sys.argv[1] + "/final.pt")
"""


def train_in_subprocess(checkpoint_dir, kill_when_checkpointed=False):
    code = RUNNER.format(tests=str(__import__("pathlib").Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", code, str(checkpoint_dir)])
    if kill_when_checkpointed:
        while not (checkpoint_dir / "last.pt").exists() and proc.poll() is None:
            time.sleep(0.01)
        proc.kill()
    assert proc.wait() == (-9 if kill_when_checkpointed else 0)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_in_subprocess(straight)
    train_in_subprocess(killed, kill_when_checkpointed=True)
    reached = torch.load(killed / "last.pt", weights_only=True)["iteration"]
    assert 5 <= reached < 60
    train_in_subprocess(killed)
    a, b = (torch.load(d / "final.pt", weights_only=True) for d in (straight, killed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [torch.load(d / "last.pt", weights_only=True)["losses"] for d in (straight, killed)]
    assert torch.equal(*losses) and len(losses[0]) == 60


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    images, labels = tiny_data()
    trainer = GANTrainer(tiny_run(iterations=3), images, labels, 2, CPU, tmp_path)
    trainer.train()
    trainer.run["iterations"] = 6
    trainer.sampler.images = torch.full(images.shape, float("nan"))  # diverged inputs from here on
    with pytest.raises(NonFiniteLoss, match=r"run 'tiny': non-finite loss at iteration 4 .*last.pt is kept"):
        trainer.train()
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["iteration"] == 3 and np.isfinite(state["losses"].numpy()).all()


def test_non_finite_loss_before_any_checkpoint_says_so(tmp_path):
    images, labels = tiny_data()
    run = tiny_run(iterations=5, lr=1e30, checkpoint_every=5)
    with pytest.raises(NonFiniteLoss, match="no checkpoint was written yet"):
        GANTrainer(run, images, labels, 2, CPU, tmp_path).train()
    assert not (tmp_path / "last.pt").exists()


def test_training_tiles_select_train_split_and_classes():
    store = {
        "images": np.zeros((6, 1, 16, 16), np.uint8),
        "labels": np.array([0, 1, 2, 0, 1, 2]),
        "classes": np.array(["a", "b", "c"]),
        "split": np.array(["train"] * 5 + ["test"]),
    }
    images, labels, classes = training_tiles(store, ["a", "c"])
    assert list(classes) == ["a", "c"] and list(labels) == [0, 1, 0] and len(images) == 3
    with pytest.raises(InputError, match=r"classes \['x'\] are not in the tile store"):
        training_tiles(store, ["a", "x"])


def test_samples_per_class_are_uint8_tiles(tmp_path):
    images, labels = tiny_data()
    trainer = GANTrainer(tiny_run(arch="dcgan-starshaped"), images, labels, 2, CPU, tmp_path)
    tiles, outputs = sample_tiles(trainer.generator.eval(), 5, seed=1, device=CPU, batch_size=3)
    assert tiles.shape == (10, 2, 16, 32) and tiles.dtype == np.uint8
    assert list(outputs) == [0] * 5 + [1] * 5
    assert np.array_equal(tiles[:5, 0], tiles[5:, 0])  # star-shaped: one red channel for every class
