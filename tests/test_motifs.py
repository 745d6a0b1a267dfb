"""The seeds' motif mode-collapse experiment: sequences, counting, the 1-D GAN, the workflow rule."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from dlbio.config_checks import check_motif_experiment, check_motif_modes
from dlbio.data.motifs import as_bits, carries, make_sequences, mode_sizes, motif_hits
from dlbio.errors import InputError
from dlbio.models.conv1d_gan import MotifCritic, MotifGenerator
from dlbio.models.registry import MOTIF_ARCHS
from dlbio.train.motif_gan import count_row, sample_sequences, straight_through, summary, train_motif_gan
from helpers import snakemake

A, B = "0011001100110011", "0101010101010101"
TWO_MODES = [{"motif": A, "fraction": 0.4}, {"motif": B, "fraction": 0.6}]
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """The nets are tiny: one thread is fastest, and on a busy machine two spin-wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_experiment(**changes):
    """Short motifs in short sequences, a few iterations: seconds on one core."""
    experiment = {
        "modes": [{"motif": "0011", "fraction": 0.5}, {"motif": "0101", "fraction": 0.5}],
        "n_train": 40,
        "length": 16,
        "algorithms": {
            "gan": {"lr": None, "n_critic": None},
            "wgan-gp": {"lr": None, "n_critic": 2, "gp_lambda": None},
        },
        "critic_pretrain": 2,
        "iterations": 3,
        "batch_size": 8,
        "nz": 6,
        "arch": "reference",
        "channels": 3,
        "critic_channels": None,
        "kernel": 4,
        "straight_through": False,
        "ema": 0,
        "lr_decay": False,
        "n_generated": 20,
        "seed": 0,
    }
    return experiment | changes


def test_counting_hand_made_sequences():
    sequences = [
        A + "0" * 16,  # motif at the start
        "1" * 16 + A,  # at the end
        "0011" + A + "0011" * 3,  # overlapping occurrences (period 4): one carrier
        "0" * 32,  # absent
        A[:-1] + "0" * 17,  # one bit short
        A + B,  # both motifs
    ]
    assert carries(sequences, A).tolist() == [True, True, True, False, False, True]
    assert carries(sequences, B).tolist() == [False, False, False, False, False, True]
    assert motif_hits(as_bits(sequences), [A, B]).sum(0).tolist() == [4, 1]
    assert not carries(["0101"], B).any()  # motif longer than the sequence


def test_sequences_carry_their_mode_in_the_configured_fractions():
    sequences, mode = make_sequences(TWO_MODES, 1000, 128, seed=3)
    assert sequences.shape == (1000, 128) and sequences.dtype == np.uint8 and set(np.unique(sequences)) == {0, 1}
    assert np.bincount(mode).tolist() == [400, 600]
    assert carries(sequences[mode == 0], A).all() and carries(sequences[mode == 1], B).all()
    assert 0.45 < sequences[:, :8].mean() < 0.55  # random background bits
    again, _ = make_sequences(TWO_MODES, 1000, 128, seed=3)
    other, _ = make_sequences(TWO_MODES, 1000, 128, seed=4)
    assert (again == sequences).all() and (other != sequences).any()
    assert mode_sizes([1 / 3, 1 / 3, 1 / 3], 10).tolist() == [4, 3, 3]
    edge, _ = make_sequences([{"motif": A, "fraction": 1.0}], 200, 16, seed=0)  # motif fills the sequence
    assert (edge == as_bits(A)).all()


@pytest.mark.parametrize(
    "modes, length, message",
    [
        (
            [{"motif": A, "fraction": 0.4}, {"motif": B, "fraction": 0.5}],
            128,
            "'motifs.x.modes': the fractions must sum to 1",
        ),
        ([{"motif": A, "fraction": 1.0}], 8, "'motifs.x.modes[0].motif': motif of length 16 is longer"),
        ([{"motif": A, "fraction": 0.5}, {"motif": "0120", "fraction": 0.5}], 128, "'motifs.x.modes[1].motif'"),
        ([{"motif": A, "fraction": 0.5}, {"motif": A, "fraction": 0.5}], 128, "motifs must be distinct"),
    ],
)
def test_bad_modes_name_the_key(modes, length, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_motif_modes(modes, length, "motifs.x")


@pytest.mark.parametrize("kernel", [16, 5])
def test_seed_nets_map_noise_to_sequences_and_sequences_to_scores(kernel):
    generator, critic = MotifGenerator(50, 10, kernel, 128), MotifCritic(10, kernel, 128)
    x = generator(torch.randn(7, 50))
    assert x.shape == (7, 1, 128) and ((x > 0) & (x < 1)).all()
    assert critic(x).shape == (7, 1)


def test_pooled_critic_scores_what_a_sequence_contains_not_where():
    torch.manual_seed(0)
    critic = MotifCritic(8, 16, 128, pool="max")
    empty, early, late = torch.zeros(3, 1, 1, 128)
    early[..., 30:46], late[..., 90:106] = torch.as_tensor(as_bits(A)), torch.as_tensor(as_bits(A))
    assert torch.allclose(critic(early), critic(late))
    assert not torch.allclose(critic(early), critic(empty))


def test_each_arch_builds_its_nets():
    def has(net, layer):
        return any(isinstance(module, layer) for module in net.modules())

    (generator, critic), (pooled_generator, pooled_critic) = (MOTIF_ARCHS[arch](6, 3, 5, 4, 16) for arch in MOTIF_ARCHS)
    assert not has(generator, torch.nn.ReLU) and not has(critic, torch.nn.AdaptiveMaxPool1d)
    assert has(pooled_generator, torch.nn.ReLU) and has(pooled_critic, torch.nn.AdaptiveMaxPool1d)
    assert critic.layers[0].out_channels == pooled_critic.layers[0].out_channels == 5


def test_pooled_kernel_must_fit_with_the_second_convolution():
    experiment = tiny_experiment(arch="pooled", kernel=13)
    with pytest.raises(InputError, match=r"'motifs.x.kernel': 13 is too long .* the pooled critic needs 17"):
        check_motif_experiment(experiment, "motifs.x")
    check_motif_experiment(experiment | {"arch": "reference"}, "motifs.x")


def test_straight_through_shows_bits_and_passes_gradients():
    probabilities = torch.tensor([[0.3, 0.6, 0.5], [0.2, 0.9, 0.7], [0, 1, 0.4], [1, 0, 0.6]], requires_grad=True)
    bits = straight_through(probabilities, torch.Generator().manual_seed(0))
    assert set(bits.unique().tolist()) <= {0.0, 1.0}
    assert bits[:2].tolist() == [[0, 1, 0], [0, 1, 1]]  # rounded (torch rounds 0.5 to even)
    assert bits[2:, :2].tolist() == [[0, 1], [1, 0]]  # drawn: certain bits are certain
    weights = torch.arange(12.0).view(4, 3)
    (weights * bits).sum().backward()
    assert torch.equal(probabilities.grad, weights)


@pytest.mark.parametrize("algorithm", ["gan", "wgan", "wgan-gp"])
def test_a_few_training_steps_give_finite_losses_and_sequences(algorithm):
    experiment = tiny_experiment()
    experiment["algorithms"] = {algorithm: {"n_critic": 2, "critic_warmup": 2}}
    sequences, _ = make_sequences(experiment["modes"], 40, 16, seed=0)
    generator, losses = train_motif_gan(sequences, algorithm, experiment, CPU)
    assert len(losses) == 3 and np.isfinite(losses).all()
    generated = sample_sequences(generator, 20, seed=1, device=CPU)
    assert generated.shape == (20, 16) and set(np.unique(generated)) <= {0, 1}
    _, again = train_motif_gan(sequences, algorithm, experiment, CPU)
    assert again == losses  # seeded: the same config gives the same run on CPU


def test_pooled_nets_with_straight_through_ema_and_decay_train_reproducibly():
    experiment = tiny_experiment(arch="pooled", critic_channels=5, straight_through=True, ema=0.9)
    experiment["lr_decay"] = True
    experiment["algorithms"] = {"wgan-gp": {"lr": 0.01, "lr_generator": 0.001, "betas": [0.5, 0.9], "n_critic": 2}}
    sequences, _ = make_sequences(experiment["modes"], 40, 16, seed=0)
    generator, losses = train_motif_gan(sequences, "wgan-gp", experiment, CPU)
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert any(isinstance(layer, torch.nn.ReLU) for layer in generator.modules())
    generated = sample_sequences(generator, 20, seed=1, device=CPU)
    again, again_losses = train_motif_gan(sequences, "wgan-gp", experiment, CPU)
    assert again_losses == losses and np.array_equal(sample_sequences(again, 20, seed=1, device=CPU), generated)
    plain, _ = train_motif_gan(sequences, "wgan-gp", experiment | {"ema": 0}, CPU)
    assert not torch.equal(plain.dense.weight, generator.dense.weight)  # the moving average is what is sampled


def test_frozen_critic_schedule_trains_only_the_generator():
    """The seeds' schedule: critic-only steps first, then generator steps against the frozen critic."""
    experiment = tiny_experiment(algorithms={"gan": {"n_critic": 0}})
    sequences, _ = make_sequences(experiment["modes"], 40, 16, seed=0)
    _, losses = train_motif_gan(sequences, "gan", experiment, CPU)
    critic, generator = np.array(losses).T
    assert np.isnan(critic).all() and np.isfinite(generator).all() and len(set(generator)) == 3


def test_count_rows_and_summary_in_the_seeds_wording():
    training = count_row(as_bits([A + "0" * 16] * 4 + [B + "1" * 16] * 6), [A, B])
    generated = count_row(as_bits([A + B] * 2 + [A + "0" * 16] + [B + "0" * 16] * 6 + ["0" * 32]), [A, B], training)
    assert (training["n_A"], training["n_B"], training["n_any"], training["n_multiple"]) == (4, 6, 10, 0)
    assert training["share_A"] == pytest.approx(0.4) and training["split_error"] == 0
    assert (generated["n_A"], generated["n_B"], generated["n_multiple"], generated["fraction_any"]) == (3, 8, 2, 0.9)
    assert generated["share_A"] == pytest.approx(1 / 7)  # among the 7 sequences with exactly one motif
    assert generated["train_share_B"] == pytest.approx(0.6) and generated["train_fraction_A"] == pytest.approx(0.4)
    assert generated["split_error"] == pytest.approx(0.4 - 1 / 7)
    table = pd.DataFrame([training | {"algorithm": "training"}, generated | {"algorithm": "gan"}])
    lines = summary(table, [A, B])
    assert lines[0] == f"training: 10/10 carry a motif; 4 carry {A}, 6 carry {B}, 0 carry both"
    assert lines[1] == (
        f"gan: 9/10 carry a motif; 3 carry {A}, 8 carry {B}, 2 carry both (training 4/6); split 14.3/85.7 vs training 40.0/60.0"
    )


@pytest.mark.workflow
def test_workflow_writes_the_counts_table_json_and_figure(tmp_path):
    experiment = tiny_experiment()
    del experiment["algorithms"]  # the schema's default: gan and wgan-gp
    result = snakemake(tmp_path, {"motifs": {"tiny": experiment}})
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "results/motifs/tiny"
    table = pd.read_csv(out / "counts.tsv", sep="\t")
    assert list(table["algorithm"]) == ["training", "gan", "wgan-gp"]
    assert list(table.columns) == [
        "experiment", "algorithm", "n", "n_any", "n_multiple", "fraction_any", "n_A", "n_B", "fraction_A", "fraction_B",
        "share_A", "share_B", "train_fraction_A", "train_fraction_B", "train_share_A", "train_share_B", "split_error",
    ]  # fmt: skip
    assert list(table["n"]) == [40, 20, 20] and (table["experiment"] == "tiny").all()
    assert (table["n_any"] <= table["n"]).all() and (table["train_fraction_A"] == table["fraction_A"][0]).all()
    counts = json.loads((out / "counts.json").read_text())
    assert counts["motif_A"] == "0011" and counts["gan/n_any"] == table["n_any"][1]
    assert (out / "proportions.png").stat().st_size > 10_000
    assert "wgan-gp: " in (tmp_path / "logs/motifs/tiny/experiment.log").read_text()
    assert "tiny: wgan-gp, " in (tmp_path / "logs/motifs/tiny/wgan-gp.log").read_text()
    experiment["algorithms"] = {"gan": {}, "wgan-gp": {"lr": 5e-4}}  # one algorithm tuned: only its job and the table
    result = snakemake(tmp_path, {"motifs": {"tiny": experiment}}, "--dry-run", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, re.M))
    assert {rule: n for rule, n in planned.items() if rule not in ("all", "total")} == {
        "motifs_train": "1",
        "motifs_experiment": "1",
        "summary": "1",
    }


@pytest.mark.parametrize(
    "modes, messages",
    [
        (
            [{"motif": "0011", "fraction": 0.5}, {"motif": "0101", "fraction": 0.4}],
            ["motifs.bad.modes': the fractions"],
        ),
        ([{"motif": "0" * 20, "fraction": 1.0}], ["motifs.bad.modes[0].motif': motif of length 20 is longer"]),
        (
            [{"motif": "0a11", "fraction": 1.0}],
            ["'0a11' does not match", "instance['motifs']['bad']['modes'][0]['motif']"],
        ),
    ],
)
def test_bad_config_stops_the_workflow_naming_the_key(tmp_path, modes, messages):
    result = snakemake(tmp_path, {"motifs": {"bad": tiny_experiment(modes=modes)}}, "--dry-run")
    assert result.returncode != 0
    for message in messages:
        assert message in result.stdout + result.stderr
