"""The adversarial core of the tile, motif and cell GANs and of C2ST: BioGANs' algorithms, losses and updates.

``gan``: logistic losses, Adam; ``wgan``: Wasserstein losses, RMSprop, weight clipping and critic
warm-up; ``wgan-gp``: Wasserstein losses plus a gradient penalty, Adam, critics without batchnorm.
A critic step trains the critic(s) on real vs fake batches; a generator step trains the generator
against the frozen critic(s). The penalty's random mixes come from the caller's ``torch.Generator``.
"""

from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F

from dlbio.errors import InputError

# BioGANs' defaults; a run's config may override lr, n_critic and critic_warmup.
ALGORITHMS = {
    "gan": {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "n_critic": 1, "critic_batchnorm": True},
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "n_critic": 5, "critic_warmup": 100, "clip": 0.01,
             "critic_batchnorm": True},
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "n_critic": 5, "gp_lambda": 10.0,
                "critic_batchnorm": False},
}
WARMUP_ITERATIONS, WARMUP_EVERY = 25, 500  # WGAN: critic_warmup steps for the first 25 generator steps and every 500th


class NonFiniteLoss(RuntimeError):
    """A loss became NaN/inf; the last good checkpoint is kept."""


def algorithm_settings(name, overrides=None):
    """``name``'s defaults with the non-null ``overrides``; ``algorithm`` holds the name."""
    if name not in ALGORITHMS:
        raise InputError(f"unknown GAN algorithm '{name}'; choose from {', '.join(ALGORITHMS)}")
    settings = {"algorithm": name} | ALGORITHMS[name] | {k: v for k, v in (overrides or {}).items() if v is not None}
    if name != "wgan":
        settings.pop("critic_warmup", None)
    return settings


def make_optimizer(params, settings):
    if settings["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=settings["lr"], betas=settings["betas"])
    return torch.optim.RMSprop(params, lr=settings["lr"])


def critic_steps(settings, iteration):
    """Critic updates before generator step ``iteration`` (counted from 0)."""
    if "critic_warmup" in settings and (iteration < WARMUP_ITERATIONS or iteration % WARMUP_EVERY == 0):
        return settings["critic_warmup"]
    return settings["n_critic"]


def critic_loss(algorithm, real_score, fake_score):
    if algorithm == "gan":
        return F.binary_cross_entropy_with_logits(
            real_score, torch.ones_like(real_score)
        ) + F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score))
    return fake_score.mean() - real_score.mean()


def generator_loss(algorithm, fake_score):
    if algorithm == "gan":
        return F.binary_cross_entropy_with_logits(fake_score, torch.ones_like(fake_score))
    return -fake_score.mean()


def gradient_penalty(critic, real, fake, mix):
    """WGAN-GP: (‖∇ critic(x̂)‖ − 1)² at random mixes x̂ of real and fake inputs."""
    mixed = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def scores(critics, inputs):
    """Each critic's scores on its own input, concatenated."""
    return torch.cat([critic(x) for critic, x in zip(critics, inputs)])


def update(optimizer, loss):
    """One step of ``optimizer`` down ``loss``'s gradients."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def clip_weights(optimizer, clip):
    """WGAN: clamp the weights ``optimizer`` trains to [-clip, clip]."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.data.clamp_(-clip, clip)


@contextmanager
def frozen(net):
    """``net`` takes no gradients inside the block: it is the opponent of the net being trained."""
    net.requires_grad_(False)
    try:
        yield
    finally:
        net.requires_grad_(True)


def critic_step(settings, optimizer, critics, real, fake, rng, autocast=nullcontext()):
    """One update of ``critics`` (callables, one per batch of ``real`` and of ``fake``); returns the detached loss.

    WGAN-GP adds the penalty averaged over critics, all at one ``rng`` mix; WGAN then clips the weights.
    """
    with autocast:
        loss = critic_loss(settings["algorithm"], scores(critics, real), scores(critics, fake))
    if "gp_lambda" in settings:
        mix = torch.rand(len(real[0]), *[1] * (real[0].dim() - 1), generator=rng).to(real[0].device)
        penalty = sum(gradient_penalty(c, r, f, mix) for c, r, f in zip(critics, real, fake))
        loss = loss + settings["gp_lambda"] * penalty / len(critics)
    update(optimizer, loss)
    if "clip" in settings:
        clip_weights(optimizer, settings["clip"])
    return loss.detach()


def generator_step(settings, optimizer, critic, fake_scores, autocast=nullcontext()):
    """One generator update against the frozen ``critic`` (a module), which ``fake_scores()`` calls on fresh fakes;
    returns the detached loss."""
    with frozen(critic):
        with autocast:
            loss = generator_loss(settings["algorithm"], fake_scores())
        update(optimizer, loss)
    return loss.detach()
