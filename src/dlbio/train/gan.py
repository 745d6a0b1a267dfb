"""GAN / WGAN / WGAN-GP training of BioGAN nets with periodic checkpoints and exact resume.

Iterations count generator steps. Critic and generator alternate, each trained against a
frozen opponent. All randomness (noise, batches, flips, penalty mixing) comes from one
seeded ``torch.Generator`` whose state is checkpointed, so on CPU a run that is killed and
resumed ends with the same weights as one that never stopped.

Generator snapshots for evaluation (scores vs iteration) are written at up to ``max_snapshots``
evenly spaced checkpoints into ``<checkpoint_dir>/snapshots/iter_NNNNNNN.pt`` (generator state
dicts), where a resumed job still finds the ones written before it was killed.
"""

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlbio.data.tiles import to_unit_range
from dlbio.errors import InputError
from dlbio.models.dcgan import build_gan
from dlbio.train.gan_figures import save_grid

log = logging.getLogger(__name__)

# BioGANs' defaults; a run's config may override lr, n_critic and critic_warmup.
ALGORITHMS = {
    "gan": {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "n_critic": 1, "critic_batchnorm": True},
    "wgan": {"optimizer": "rmsprop", "lr": 5e-5, "n_critic": 5, "critic_warmup": 100, "clip": 0.01,
             "critic_batchnorm": True},
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "n_critic": 5, "gp_lambda": 10.0,
                "critic_batchnorm": False},
}
OVERRIDABLE = ("lr", "n_critic", "critic_warmup")
WARMUP_ITERATIONS, WARMUP_EVERY = 25, 500  # WGAN: critic_warmup steps for the first 25 generator steps and every 500th


class NonFiniteLoss(RuntimeError):
    """A loss became NaN/inf; the last good checkpoint is kept."""


def algorithm_settings(name, overrides=None):
    if name not in ALGORITHMS:
        raise InputError(f"unknown GAN algorithm '{name}'; choose from {', '.join(ALGORITHMS)}")
    settings = ALGORITHMS[name] | {k: v for k, v in (overrides or {}).items() if v is not None}
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
    """WGAN-GP: (‖∇ critic(x̂)‖ − 1)² at random mixes x̂ of real and fake tiles."""
    mixed = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def random_flips(tiles, rng):
    """Flip each tile (first dimension) vertically and horizontally, each with probability 1/2."""
    for dim in (-2, -1):
        flip = (torch.rand(len(tiles), generator=rng) < 0.5).to(tiles.device)
        tiles = torch.where(flip.view(-1, *[1] * (tiles.dim() - 1)), tiles.flip(dim), tiles)
    return tiles


def snapshot_iterations(iterations, checkpoint_every, max_snapshots):
    """Up to ``max_snapshots`` checkpoint iterations, evenly spaced, always including the last one."""
    checkpoints = list(range(checkpoint_every, iterations, checkpoint_every)) + [iterations]
    if max_snapshots < 1:
        return []
    picks = np.linspace(len(checkpoints) - 1, 0, min(max_snapshots, len(checkpoints))).round().astype(int)
    return sorted({checkpoints[i] for i in picks})


def snapshot_name(iteration):
    return f"iter_{iteration:07d}.pt"


def snapshot_files(folder):
    """``(iteration, path)`` of every generator snapshot in ``folder``, by iteration."""
    return sorted((int(p.stem.removeprefix("iter_")), p) for p in Path(folder).glob("iter_*.pt"))


class TileSampler:
    """Random batches of real tiles (per class for class-aware generators) with random flips.

    ``images`` are the uint8 training tiles (N, C, H, W); they stay uint8 on ``device`` and are
    mapped to [-1, 1] per batch by :func:`dlbio.data.tiles.to_unit_range`.
    """

    def __init__(self, images, labels, n_groups, device, rng):
        self.images = torch.as_tensor(images).to(device)
        labels = torch.as_tensor(labels)
        groups = [torch.arange(len(labels))] if n_groups == 1 else [torch.where(labels == k)[0] for k in range(n_groups)]
        self.groups, self.rng = groups, rng

    def batch(self, size):
        """(size, K, C, H, W) float tiles in [-1, 1]."""
        picks = [g[torch.randint(len(g), (size,), generator=self.rng)] for g in self.groups]
        x = self.images[torch.stack(picks, 1).to(self.images.device)]
        return to_unit_range(random_flips(x, self.rng))  # flip uint8: 4× less memory traffic than floats


class GANTrainer:
    """One training run: nets, optimisers, sampler and the checkpoint that makes it resumable."""

    def __init__(self, run, images, labels, n_classes, device, checkpoint_dir, max_snapshots=0):
        self.run, self.device = run, device
        self.algorithm = run["algorithm"]
        self.settings = algorithm_settings(self.algorithm, {k: run.get(k) for k in OVERRIDABLE})
        torch.manual_seed(run["seed"])
        channels, size = images.shape[1], images.shape[2:]
        self.generator, self.critics = build_gan(
            run["arch"], n_classes, channels, size, run["width"], run["nz"], self.settings["critic_batchnorm"]
        )
        self.generator.to(device)
        self.critics.to(device)
        self.opt_g = make_optimizer(self.generator.parameters(), self.settings)
        self.opt_d = make_optimizer(self.critics.parameters(), self.settings)
        self.rng = torch.Generator().manual_seed(run["seed"])
        self.sampler = TileSampler(images, labels, self.generator.n_outputs, device, self.rng)
        self.fixed_noise = torch.randn(run["grid_rows"], run["nz"], generator=self.rng)
        self.iteration, self.losses = 0, []
        self.checkpoint_dir = Path(checkpoint_dir)
        self.checkpoint = self.checkpoint_dir / "last.pt"
        self.progress_dir = self.checkpoint_dir / "progress"
        self.snapshot_dir = self.checkpoint_dir / "snapshots"
        self.snapshot_at = snapshot_iterations(run["iterations"], run["checkpoint_every"], max_snapshots)
        self.autocast = run.get("bf16", False) and device.type == "cuda"

    def noise(self, size):
        return torch.randn(size, self.run["nz"], generator=self.rng).to(self.device)

    def scores(self, x):
        """Each critic's scores on its own output/class: (B, K) → flat (B·K)."""
        return torch.cat([critic(x[:, k]) for k, critic in enumerate(self.critics)])

    def critic_step(self, size):
        real = self.sampler.batch(size)
        with torch.no_grad(), self.amp():
            fake = self.generator(self.noise(size))
        with self.amp():
            loss = critic_loss(self.algorithm, self.scores(real), self.scores(fake.float()))
        if "gp_lambda" in self.settings:
            mix = torch.rand(size, 1, 1, 1, generator=self.rng).to(self.device)
            penalty = sum(gradient_penalty(c, real[:, k], fake[:, k].float(), mix) for k, c in enumerate(self.critics))
            loss = loss + self.settings["gp_lambda"] * penalty / len(self.critics)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if "clip" in self.settings:
            for p in self.critics.parameters():
                p.data.clamp_(-self.settings["clip"], self.settings["clip"])
        return loss.item()

    def generator_step(self, size):
        self.critics.requires_grad_(False)
        with self.amp():
            loss = generator_loss(self.algorithm, self.scores(self.generator(self.noise(size)).float()))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.critics.requires_grad_(True)
        return loss.item()

    def amp(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast)

    def state(self):
        return {
            "generator": self.generator.state_dict(),
            "critics": self.critics.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "iteration": self.iteration,
            "losses": torch.tensor(self.losses, dtype=torch.float64).reshape(-1, 2),
        }

    def save_checkpoint(self):
        """Write atomically, so a kill mid-write leaves the previous checkpoint intact."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, self.checkpoint)

    def resume(self):
        """Continue from the last checkpoint if there is one; returns the iteration reached."""
        if self.checkpoint.exists():
            state = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
            self.generator.load_state_dict(state["generator"])
            self.critics.load_state_dict(state["critics"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.rng.set_state(state["rng"])
            self.iteration, self.losses = state["iteration"], state["losses"].tolist()
            log.info("resumed from %s at iteration %d", self.checkpoint, self.iteration)
        return self.iteration

    @torch.no_grad()
    def samples(self, noise):
        self.generator.eval()
        out = self.generator(noise.to(self.device)).float()
        self.generator.train()
        return out

    def record_progress(self):
        """Fixed-noise samples of this iteration, kept beside the checkpoint for the progress figure."""
        self.progress_dir.mkdir(parents=True, exist_ok=True)
        save_grid(self.samples(self.fixed_noise), self.progress_dir / f"iter_{self.iteration:07d}.png")

    def save_snapshot(self):
        """The generator's weights at this iteration, written atomically beside the checkpoint."""
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.snapshot_dir / snapshot_name(self.iteration)
        torch.save(self.generator.state_dict(), path.with_suffix(".tmp"))
        os.replace(path.with_suffix(".tmp"), path)

    def export_snapshots(self, folder):
        """Copy this run's generator snapshots to ``folder`` (a workflow output); returns their iterations.

        A snapshot that is missing (the run was resumed from a checkpoint written without
        snapshots) is skipped with a warning.
        """
        Path(folder).mkdir(parents=True, exist_ok=True)
        kept = [i for i in self.snapshot_at if (self.snapshot_dir / snapshot_name(i)).exists()]
        for i in kept:
            shutil.copyfile(self.snapshot_dir / snapshot_name(i), Path(folder) / snapshot_name(i))
        missing = sorted(set(self.snapshot_at) - set(kept))
        if missing:
            log.warning("generator snapshots of iterations %s were never written (resumed run); skipped", missing)
        return kept

    def train(self):
        """Run to ``run['iterations']`` generator steps, checkpointing every ``checkpoint_every``."""
        total, size, every = self.run["iterations"], self.run["batch_size"], self.run["checkpoint_every"]
        start = self.resume()
        for _ in tqdm(range(start, total), initial=start, total=total, desc=self.run["name"], mininterval=10):
            for _ in range(critic_steps(self.settings, self.iteration)):
                d_loss = self.critic_step(size)
            g_loss = self.generator_step(size)
            if not np.isfinite([d_loss, g_loss]).all():
                kept = f"{self.checkpoint} is kept" if self.checkpoint.exists() else "no checkpoint was written yet"
                raise NonFiniteLoss(
                    f"run '{self.run['name']}': non-finite loss at iteration {self.iteration + 1} "
                    f"(critic {d_loss}, generator {g_loss}); {kept}. Lower the learning rate or check the data."
                )
            self.losses.append([d_loss, g_loss])
            self.iteration += 1
            if self.iteration % every == 0 or self.iteration == total:
                self.record_progress()  # before the checkpoint: a resumed run rewrites these files identically
                if self.iteration in self.snapshot_at:
                    self.save_snapshot()
                self.save_checkpoint()
        return pd.DataFrame(
            [(i + 1, d, g) for i, (d, g) in enumerate(self.losses)], columns=["iteration", "critic_loss", "generator_loss"]
        )


def load_generator(path, run, n_classes, channels, size, device):
    """Rebuild a run's generator and load its trained weights (a state dict, loaded safely)."""
    generator, _ = build_gan(run["arch"], n_classes, channels, size, run["width"], run["nz"])
    generator.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return generator.to(device).eval()


@torch.no_grad()
def sample_tiles(generator, n, seed, device, batch_size=256):
    """``n`` samples per generator output as uint8 tiles (n·K, C, H, W) and output indices (n·K,)."""
    rng = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), generator.nz, generator=rng).to(device)
        chunks.append(generator(z).float().cpu())
    x = torch.cat(chunks)  # (n, K, C, H, W)
    tiles = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    k = x.shape[1]
    return tiles.transpose(0, 1).reshape(n * k, *x.shape[2:]).numpy(), np.repeat(np.arange(k), n)


def training_tiles(store, classes=None, split="train"):
    """Tiles of ``split`` (the training split by default) and ``classes`` (all when None), labels recoded to 0..K-1."""
    names = list(store["classes"]) if classes is None else list(classes)
    unknown = sorted(set(names) - set(store["classes"]))
    if unknown:
        raise InputError(f"classes {unknown} are not in the tile store; it has {list(store['classes'])}")
    codes = np.searchsorted(store["classes"], names)
    keep = (store["split"] == split) & np.isin(store["labels"], codes)
    recode = np.zeros(len(store["classes"]), dtype=np.int64)
    recode[codes] = np.arange(len(codes))  # store code → position in ``names`` (any order)
    return store["images"][keep], recode[store["labels"][keep]], np.array(names)
