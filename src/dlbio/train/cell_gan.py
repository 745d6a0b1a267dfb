"""Conditional WGAN-GP on single cells' PCA features, and sampling cells of one type from it.

The algorithm settings and updates are those of :mod:`dlbio.train.adversarial`
(``wgan-gp``: Adam β = (0, 0.9), λ = 10, 5 critic steps; ``lr`` and ``n_critic`` may be
overridden). All randomness comes from one seeded ``torch.Generator``.
"""

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from dlbio.models.cell_gan import ConditionalCritic, ConditionalGenerator
from dlbio.train.adversarial import NonFiniteLoss, algorithm_settings, critic_step, generator_step, make_optimizer

ALGORITHM = "wgan-gp"


def fit_cell_gan(x, labels, n_classes, params, device, seed):
    """Train on cells ``x`` (N, F) with cell types ``labels`` (N,) in 0..n_classes-1.

    ``params``: iterations, batch_size, hidden, layers, nz, lr, n_critic (null = the
    algorithm's default) and ``balanced`` (draw every cell type equally often instead of in
    proportion to its cells). The nets see the features centred per column and divided by one
    overall standard deviation, so the leading PCs keep their larger weight. Returns the trained
    generator (eval mode) and the losses per generator iteration.
    """
    settings = algorithm_settings(ALGORITHM, {"lr": params["lr"], "n_critic": params["n_critic"]})
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long)
    mean, std = x.mean(0), (x - x.mean(0)).std().clamp_min(1e-6).expand(x.shape[1])
    real_x, real_y = ((x - mean) / std).to(device), labels.to(device)
    generator = ConditionalGenerator(
        x.shape[1], n_classes, params["nz"], params["hidden"], params["layers"], mean, std
    ).to(device)
    critic = ConditionalCritic(x.shape[1], n_classes, params["hidden"], params["layers"]).to(device)
    opt_g, opt_d = make_optimizer(generator.parameters(), settings), make_optimizer(critic.parameters(), settings)
    counts = torch.bincount(labels, minlength=n_classes).float()
    weights = 1 / counts[labels] if params["balanced"] else torch.ones(len(labels))
    size = params["batch_size"]

    def batch():
        idx = torch.multinomial(weights, size, replacement=True, generator=rng).to(device)
        return real_x[idx], real_y[idx], torch.randn(size, params["nz"], generator=rng).to(device)

    losses = []
    for iteration in tqdm(range(1, params["iterations"] + 1), desc="cell GAN", mininterval=5):
        for _ in range(settings["n_critic"]):
            real, y, z = batch()
            with torch.no_grad():
                fake = generator(z, y)
            loss_d = critic_step(settings, opt_d, [lambda v: critic(v, y)], [real], [fake], rng)
        _, y, z = batch()
        loss_g = generator_step(settings, opt_g, critic, lambda: critic(generator(z, y), y))
        losses.append((iteration, loss_d.item(), loss_g.item()))
        if not np.isfinite(losses[-1][1:]).all():
            raise NonFiniteLoss(f"cell GAN: non-finite loss at iteration {iteration} {losses[-1][1:]}; lower gan.lr")
    return generator.eval(), pd.DataFrame(losses, columns=["iteration", "critic_loss", "generator_loss"])


@torch.no_grad()
def sample_cells(generator, label, n, seed, device):
    """``n`` generated cells of type ``label`` in the original feature units, as a float32 array (n, F)."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.nz, generator=rng).to(device)
    labels = torch.full((n,), label, dtype=torch.long, device=device)
    return generator.to_features(generator(z, labels)).cpu().numpy().astype(np.float32)
