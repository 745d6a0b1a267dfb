"""The seeds' mode-collapse experiment: train the 1-D GAN on motif sequences, sample, count the motifs.

Each algorithm (``gan``, ``wgan``, ``wgan-gp``: dlbio.train.adversarial's BioGANs settings and
updates, with per-algorithm overrides) trains one generator on the same training set with the
same schedule: ``critic_pretrain`` critic-only steps, then ``iterations`` generator steps. The
seeds' schedule is 1,500 critic steps, then 200 generator steps against the frozen critic
(``n_critic: 0``); the usual adversarial training alternates (``n_critic`` ≥ 1). ``n_generated``
sampled sequences (generator probabilities rounded at 0.5) are then counted like the training
set. A mode's *share* is its count over the counts of all modes, so a 40/60 training split is
matched when the shares are 0.4/0.6.

``arch: reference`` is the seeds' nets; ``pooled`` adds ReLUs to the generator and gives the
critic a maximum over positions (dlbio.models.conv1d_gan). Three options make adversarial
training reach sharp sequences: ``straight_through`` shows the critic binary sequences, half of
each generated batch rounded at 0.5 (what is counted) and half drawn as Bernoulli bits from the
same probabilities (which pass only where the generator is confident), with straight-through
gradients; ``ema`` samples from an exponential moving average of the generator's weights;
``lr_decay`` lowers both learning rates linearly to 0 over the generator steps.
"""

import logging
import string

import numpy as np
import pandas as pd

from dlbio.data.motifs import make_sequences, motif_hits
from dlbio.models.registry import MOTIF_ARCHS

log = logging.getLogger(__name__)


def mode_labels(n):
    """A, B, C, ... naming the modes in the table's columns."""
    return list(string.ascii_uppercase[:n])


def build_nets(experiment):
    """The experiment's generator and critic (``arch``, ``nz``, ``channels``, ``critic_channels``, ``kernel``,
    ``length``)."""
    critic_channels = experiment["critic_channels"] or experiment["channels"]
    build = MOTIF_ARCHS[experiment["arch"]]
    return build(experiment["nz"], experiment["channels"], critic_channels, experiment["kernel"], experiment["length"])


def straight_through(probabilities, rng):
    """Binary sequences with the probabilities' gradients: the first half rounded at 0.5, the rest Bernoulli draws."""
    import torch  # local, as below: the experiment's table and figure need no torch (~2 s to import)

    half = len(probabilities) // 2
    draws = torch.rand(probabilities[half:].shape, generator=rng).to(probabilities.device) < probabilities[half:]
    bits = torch.cat([probabilities[:half].round(), draws.float()])
    return probabilities + (bits - probabilities).detach()


def train_motif_gan(sequences, algorithm, experiment, device):
    """Train a generator on 0/1 ``sequences`` (N, L); returns the generator to sample from (its moving average
    with ``ema``) and the (critic, generator) loss per generator step.

    ``critic_pretrain`` critic steps against the untrained generator come first; then every
    generator step follows ``n_critic`` critic steps (0 keeps the critic frozen, as in the seeds'
    second phase; the critic loss is then NaN). ``lr_generator`` (an algorithm override) gives the
    generator its own learning rate.
    """
    import torch
    from torch.optim.lr_scheduler import LinearLR
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from dlbio.train.adversarial import (
        NonFiniteLoss,
        algorithm_settings,
        critic_step,
        critic_steps,
        generator_step,
        make_optimizer,
    )

    settings = algorithm_settings(algorithm, experiment["algorithms"][algorithm])
    torch.manual_seed(experiment["seed"])
    generator, critic = (net.to(device) for net in build_nets(experiment))
    opt_d = make_optimizer(critic.parameters(), settings)
    opt_g = make_optimizer(generator.parameters(), settings | {"lr": settings.get("lr_generator") or settings["lr"]})
    iterations = experiment["iterations"]
    schedules = [LinearLR(opt, 1.0, 0.0, iterations) for opt in (opt_g, opt_d)] if experiment["lr_decay"] else []
    ema = None
    if experiment["ema"]:
        ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(experiment["ema"]), use_buffers=True)
    rng = torch.Generator().manual_seed(experiment["seed"])
    real = torch.as_tensor(sequences, dtype=torch.float32)[:, None].to(device)
    size = experiment["batch_size"]

    def noise():
        return torch.randn(size, generator.nz, generator=rng).to(device)

    def generate():
        fake = generator(noise())
        return straight_through(fake, rng) if experiment["straight_through"] else fake

    def train_critic():
        x = real[torch.randint(len(real), (size,), generator=rng).to(device)]
        with torch.no_grad():
            fake = generate()
        return critic_step(settings, opt_d, [critic], [x], [fake], rng).item()

    for _ in range(experiment["critic_pretrain"]):
        train_critic()
    losses = []
    for iteration in range(iterations):
        d_losses = [train_critic() for _ in range(critic_steps(settings, iteration))]
        g_loss = generator_step(settings, opt_g, critic, lambda: critic(generate())).item()
        if ema is not None:
            ema.update_parameters(generator)
        for schedule in schedules:
            schedule.step()
        if not np.isfinite(d_losses + [g_loss]).all():
            raise NonFiniteLoss(
                f"{algorithm}: non-finite loss at generator step {iteration + 1} (critic {d_losses}, generator "
                f"{g_loss}); lower 'lr' under 'algorithms.{algorithm}'"
            )
        losses.append((d_losses[-1] if d_losses else float("nan"), g_loss))
    return (generator if ema is None else ema.module), losses


def sample_sequences(generator, n, seed, device, batch_size=1000):
    """``n`` generated sequences as uint8 0/1 ``(n, L)``: generator probabilities (eval mode) rounded at 0.5."""
    import torch

    rng = torch.Generator().manual_seed(seed)
    generator.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), generator.nz, generator=rng).to(device)
            chunks.append((generator(z)[:, 0] > 0.5).cpu())
    generator.train()
    return torch.cat(chunks).numpy().astype(np.uint8)


def count_row(sequences, motifs, training=None):
    """One table row: carriers per mode, sequences with several motifs, the mode split; beside the training row's.

    ``share_X`` is the split of the modes: the fraction of the sequences that carry exactly one
    motif whose motif is X (a sequence with two motifs belongs to no training mode).
    """
    hits = motif_hits(sequences, motifs)
    per_sequence = hits.sum(1)
    counts, single = hits.sum(0), hits[per_sequence == 1].sum(0)
    n, labels = len(sequences), mode_labels(len(motifs))
    row = {"n": n, "n_any": int((per_sequence > 0).sum()), "n_multiple": int((per_sequence > 1).sum())}
    row["fraction_any"] = row["n_any"] / n
    row |= {f"n_{m}": int(c) for m, c in zip(labels, counts)}
    row |= {f"fraction_{m}": c / n for m, c in zip(labels, counts)}
    row |= {f"share_{m}": c / max(single.sum(), 1) for m, c in zip(labels, single)}
    training = training or row
    row |= {f"train_fraction_{m}": training[f"fraction_{m}"] for m in labels}
    row |= {f"train_share_{m}": training[f"share_{m}"] for m in labels}
    row["split_error"] = max(abs(row[f"share_{m}"] - row[f"train_share_{m}"]) for m in labels)
    return row


def training_row(experiment):
    """The experiment's training sequences (regenerated from its seed) and their row of the table."""
    sequences, _ = make_sequences(experiment["modes"], experiment["n_train"], experiment["length"], experiment["seed"])
    return sequences, count_row(sequences, [mode["motif"] for mode in experiment["modes"]])


def run_algorithm(name, algorithm, experiment, device):
    """Train one configured algorithm, sample ``n_generated`` sequences, count them: its row of the table.

    Each algorithm starts from the experiment's seed, so an algorithm's row is the same whether it
    runs alone (one job per algorithm in the workflow) or after the others.
    """
    sequences, training = training_row(experiment)
    log.info(
        "%s: %s, %d critic-only steps, then %d generator steps",
        name,
        algorithm,
        experiment["critic_pretrain"],
        experiment["iterations"],
    )
    generator, _ = train_motif_gan(sequences, algorithm, experiment, device)
    generated = sample_sequences(generator, experiment["n_generated"], experiment["seed"] + 1, device)
    return count_row(generated, [mode["motif"] for mode in experiment["modes"]], training)


def experiment_table(name, experiment, rows):
    """The counts table: the ``training`` row, then ``rows`` (``{algorithm: row}``) in their order."""
    rows = {"training": training_row(experiment)[1]} | rows
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("algorithm").reset_index()
    table.insert(0, "experiment", name)
    return table


def flat_counts(table, motifs):
    """The table as flat JSON: ``motif_<X>`` and ``<algorithm>/<column>`` for every row."""
    counts = {f"motif_{m}": motif for m, motif in zip(mode_labels(len(motifs)), motifs)}
    for row in table.drop(columns="experiment").to_dict("records"):
        algorithm = row.pop("algorithm")
        counts |= {f"{algorithm}/{column}": value for column, value in row.items()}
    return counts


def summary(table, motifs):
    """The seeds' wording, one line per row: 'gan: 905/1000 carry a motif; 133 carry 0011..., ...'."""
    labels = mode_labels(len(motifs))
    training = table.set_index("algorithm").loc["training"]
    reference = "/".join(str(int(training[f"n_{m}"])) for m in labels)
    lines = []
    for row in table.to_dict("records"):
        carried = [f"{row[f'n_{m}']} carry {motif}" for m, motif in zip(labels, motifs)]
        if len(motifs) > 1:
            carried.append(f"{row['n_multiple']} carry {'both' if len(motifs) == 2 else 'several'}")
        line = f"{row['algorithm']}: {row['n_any']}/{row['n']} carry a motif; {', '.join(carried)}"
        if row["algorithm"] != "training":
            line += f" (training {reference})"
            if len(motifs) > 1:
                split = "/".join(f"{100 * row[f'share_{m}']:.1f}" for m in labels)
                train_split = "/".join(f"{100 * row[f'train_share_{m}']:.1f}" for m in labels)
                line += f"; split {split} vs training {train_split}"
        lines.append(line)
    return lines


def plot_proportions(table, motifs, path, title):
    """Bars per row (training, then each algorithm): the mode split and the fraction carrying any motif."""
    from dlbio.figures import plt  # local: a training job draws nothing (matplotlib costs ~1 s to import)

    labels = mode_labels(len(motifs))
    if len(motifs) > 1:
        columns = [f"share_{m}" for m in labels] + ["fraction_any"]
        names = [f"share {m}: {motif}" for m, motif in zip(labels, motifs)] + ["carry any motif"]
    else:
        columns, names = ["fraction_A"], [f"carry {motifs[0]}"]
    x, width = np.arange(len(table)), 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(3 + 1.5 * len(table), 3.8))
    for i, (column, name) in enumerate(zip(columns, names)):
        bars = ax.bar(x + (i - (len(columns) - 1) / 2) * width, table[column], width, label=name)
        ax.bar_label(bars, [f"{v:.2f}" for v in table[column]], fontsize=7)
        ax.axhline(table[column].iloc[0], color=bars.patches[0].get_facecolor(), ls="--", lw=0.8)
    ax.set_xticks(x, table["algorithm"])
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("fraction")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
