"""GAN / WGAN / WGAN-GP training of BioGAN nets with periodic checkpoints and exact resume.

Iterations count generator steps. Critic and generator alternate, each trained against a
frozen opponent (:mod:`dlbio.train.adversarial`). All randomness (noise, batches, flips, penalty
mixing) comes from one seeded ``torch.Generator`` whose state is checkpointed, so on CPU a run
that is killed and resumed ends with the same weights as one that never stopped.

Generator snapshots for evaluation (scores vs iteration) are written at up to ``max_snapshots``
evenly spaced checkpoints into ``<checkpoint_dir>/snapshots/iter_NNNNNNN.pt`` (generator state
dicts), where a resumed job still finds the ones written before it was killed.
"""

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from dlbio.data.tile_batches import TileSampler
from dlbio.io import atomic_write
from dlbio.models.dcgan import build_gan
from dlbio.train import adversarial
from dlbio.train.gan_figures import save_grid

log = logging.getLogger(__name__)

OVERRIDABLE = ("lr", "n_critic", "critic_warmup")  # run keys that override the algorithm's defaults


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


class GANTrainer:
    """One training run: nets, optimisers, sampler and the checkpoint that makes it resumable."""

    def __init__(self, run, images, labels, n_classes, device, checkpoint_dir):
        self.run, self.device = run, device
        self.settings = adversarial.algorithm_settings(run["algorithm"], {k: run[k] for k in OVERRIDABLE})
        torch.manual_seed(run["seed"])
        channels, size = images.shape[1], images.shape[2:]
        self.generator, self.critics = build_gan(
            run["arch"], n_classes, channels, size, run["width"], run["nz"], self.settings["critic_batchnorm"]
        )
        self.generator.to(device)
        self.critics.to(device)
        self.opt_g = adversarial.make_optimizer(self.generator.parameters(), self.settings)
        self.opt_d = adversarial.make_optimizer(self.critics.parameters(), self.settings)
        self.rng = torch.Generator().manual_seed(run["seed"])
        self.sampler = TileSampler(images, labels, self.generator.n_outputs, device, self.rng)
        self.fixed_noise = torch.randn(run["grid_rows"], run["nz"], generator=self.rng)
        self.iteration, self.losses = 0, []
        self.checkpoint_dir = Path(checkpoint_dir)
        self.checkpoint = self.checkpoint_dir / "last.pt"
        self.progress_dir = self.checkpoint_dir / "progress"
        self.snapshot_dir = self.checkpoint_dir / "snapshots"
        self.snapshot_at = snapshot_iterations(run["iterations"], run["checkpoint_every"], run["max_snapshots"])
        self.autocast = run["bf16"] and device.type == "cuda"

    def noise(self, size):
        return torch.randn(size, self.run["nz"], generator=self.rng).to(self.device)

    def critic_step(self, size):
        real = self.sampler.batch(size)
        with torch.no_grad(), self.amp():
            fake = self.generator(self.noise(size)).float()
        return adversarial.critic_step(
            self.settings, self.opt_d, self.critics, real.unbind(1), fake.unbind(1), self.rng, self.amp()
        ).item()

    def generator_step(self, size):
        def fake_scores():
            return adversarial.scores(self.critics, self.generator(self.noise(size)).float().unbind(1))

        return adversarial.generator_step(self.settings, self.opt_g, self.critics, fake_scores, self.amp()).item()

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
        with atomic_write(self.checkpoint) as tmp:
            torch.save(self.state(), tmp)

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
        with atomic_write(path) as tmp:
            torch.save(self.generator.state_dict(), tmp)

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
            for _ in range(adversarial.critic_steps(self.settings, self.iteration)):
                d_loss = self.critic_step(size)
            g_loss = self.generator_step(size)
            if not np.isfinite([d_loss, g_loss]).all():
                kept = f"{self.checkpoint} is kept" if self.checkpoint.exists() else "no checkpoint was written yet"
                raise adversarial.NonFiniteLoss(
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
