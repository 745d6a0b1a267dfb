"""Classifier two-sample tests (C2ST) of generated against real tiles, after BioGANs (Osokin et al., 2017).

A fresh DCGAN critic learns to tell the first halves of two tile sets apart and is scored on the
second halves, which it never saw:

- ``wasserstein``: the critic is trained with the WGAN-GP objective; the score is its estimate of
  the Wasserstein distance, mean critic(real) − mean critic(fake) on the held-out tiles: about 0
  for indistinguishable sets, larger the easier they are to tell apart (BioGANs' C2ST).
- ``accuracy``: the same net as a logistic real-vs-fake classifier; the score is its balanced
  held-out accuracy (mean of the accuracies on real and on fake tiles): 0.5 = indistinguishable.

The critic has no batchnorm, so a tile's score never depends on its batch. Repeating over seeded
splits gives mean ± std; the same procedure on two halves of the real set (real vs real) is the
floor every score is read against. Each critic is also scored on the halves it was trained on
(``train_<test>``): a critic that cannot tell even those apart learned nothing, and its held-out
score means nothing either (see :func:`verdict`). Tiles are uint8 ``(N, C, H, W)`` as in the tile
store; training batches are drawn with replacement and random flips by :class:`dlbio.data.tile_batches.TileSampler`.
All randomness (splits, initialisation, batches, flips, penalty mixing) follows the seed, so on
CPU a call returns the same value every time.
"""

import logging

import numpy as np
import torch

from dlbio.data.tile_batches import TileSampler, to_unit_range
from dlbio.errors import InputError
from dlbio.models.dcgan import Critic, init_weights
from dlbio.train.adversarial import algorithm_settings, critic_step, make_optimizer

log = logging.getLogger(__name__)

PARAMS = ("iterations", "batch_size", "width", "lr")  # the config's evaluation.c2st keys, which hold the defaults
MIN_TILES = 4  # per compared set: at least 2 tiles to train on and 2 to score
TESTS = {  # name → (objective in dlbio.train.adversarial, statistic of the held-out real and fake scores)
    "wasserstein": ("wgan-gp", lambda real, fake: real.mean() - fake.mean()),
    "accuracy": ("gan", lambda real, fake: ((real > 0).float().mean() + (fake < 0).float().mean()) / 2),
}
CHANCE = {"wasserstein": 0.0, "accuracy": 0.5}  # what a critic that tells nothing apart scores
MARGIN = 0.1  # a score this far above chance (training halves) or the floor (held-out accuracy) tells sets apart
INCONCLUSIVE = "inconclusive: the critic did not learn; raise `evaluation.c2st.iterations`"


def c2st_params(params):
    """``params`` with exactly the keys :data:`PARAMS`; another key set or a non-positive value is an
    :class:`InputError`."""
    missing, unknown = sorted(set(PARAMS) - set(params)), sorted(set(params) - set(PARAMS))
    if missing or unknown:
        raise InputError(f"C2ST parameters: missing {missing}, unknown {unknown}; expected {list(PARAMS)}")
    params = dict(params)
    for key in ("iterations", "batch_size", "width"):
        if not isinstance(params[key], (int, np.integer)) or params[key] < 1:
            raise InputError(f"C2ST parameter '{key}' must be a positive integer, got {params[key]!r}")
    if params["lr"] is not None and not params["lr"] > 0:
        raise InputError(f"C2ST parameter 'lr' must be positive or null, got {params['lr']!r}")
    return params


def check_tiles(tiles, name, minimum=MIN_TILES):
    """``tiles`` must be a uint8 array ``(N, C, H, W)`` with N ≥ ``minimum``."""
    if not isinstance(tiles, np.ndarray) or tiles.dtype != np.uint8 or tiles.ndim != 4:
        got = f"{tiles.dtype} array of shape {tiles.shape}" if isinstance(tiles, np.ndarray) else type(tiles).__name__
        raise InputError(f"C2ST: {name} tiles must be a uint8 array (N, C, H, W) as in the tile store, got {got}")
    if len(tiles) < minimum:
        raise InputError(f"C2ST: the {name} set has {len(tiles)} tiles; at least {minimum} are needed")


def check_pair(real, fake):
    check_tiles(real, "real")
    check_tiles(fake, "generated")
    if real.shape[1:] != fake.shape[1:]:
        raise InputError(f"C2ST: real tiles are (C, H, W) = {real.shape[1:]} but generated ones {fake.shape[1:]}")


def check_seeds(seeds):
    if len(seeds) == 0:
        raise InputError("C2ST: give at least one seed")
    return [int(s) for s in seeds]


def seeded(seed):
    return torch.Generator().manual_seed(int(seed))


def halves(tiles, rng):
    """A random first half of ``tiles`` and the rest."""
    order = torch.randperm(len(tiles), generator=rng).numpy()
    return tiles[order[: len(tiles) // 2]], tiles[order[len(tiles) // 2 :]]


def fit_critic(real, fake, objective, params, device, rng):
    """A fresh critic trained ``params['iterations']`` steps on real vs fake batches with ``objective``."""
    settings = algorithm_settings(objective, {"lr": params["lr"]})
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG alone
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=rng)))
        critic = Critic(params["width"], real.shape[1], real.shape[2:], batchnorm=False).apply(init_weights)
    critic.to(device)
    optimizer = make_optimizer(critic.parameters(), settings)
    samplers = [TileSampler(x, np.zeros(len(x), dtype=np.int64), 1, device, rng) for x in (real, fake)]
    size = params["batch_size"]
    for _ in range(params["iterations"]):
        real_batch, fake_batch = (s.batch(size)[:, 0] for s in samplers)
        critic_step(settings, optimizer, [critic], [real_batch], [fake_batch], rng)
    return critic.eval()


@torch.no_grad()
def critic_scores(critic, tiles, device, batch_size=256):
    """Critic outputs of uint8 tiles, on the CPU."""
    chunks = [tiles[i : i + batch_size] for i in range(0, len(tiles), batch_size)]
    return torch.cat([critic(to_unit_range(torch.as_tensor(c).to(device))).float().cpu() for c in chunks])


def two_sample(test, real, fake, params, device, rng):
    """One C2ST (``test`` in :data:`TESTS`): a critic fitted on the first halves; its statistic on the second
    (held out) and on the first (training) halves."""
    objective, statistic = TESTS[test]
    (real_fit, real_held), (fake_fit, fake_held) = halves(real, rng), halves(fake, rng)
    critic = fit_critic(real_fit, fake_fit, objective, params, device, rng)
    held, train = (
        float(statistic(critic_scores(critic, r, device), critic_scores(critic, f, device)))
        for r, f in ((real_held, fake_held), (real_fit, fake_fit))
    )
    if not np.isfinite(held):
        raise RuntimeError(f"C2ST {test}: the critic diverged (score {held}); lower the C2ST 'lr'")
    return held, train


def c2st_wasserstein(real, fake, params, device, seed):
    """BioGANs' C2ST: the WGAN-GP critic's held-out Wasserstein estimate (≈ 0 = indistinguishable)."""
    check_pair(real, fake)
    return two_sample("wasserstein", real, fake, c2st_params(params), torch.device(device), seeded(seed))[0]


def c2st_accuracy(real, fake, params, device, seed):
    """Held-out balanced accuracy of a logistic real-vs-fake critic (0.5 = indistinguishable)."""
    check_pair(real, fake)
    return two_sample("accuracy", real, fake, c2st_params(params), torch.device(device), seeded(seed))[0]


def repeat(real, fake, params, device, seeds, floor=False):
    """Per-split held-out (``<test>``) and training-half (``train_<test>``) values of both tests; ``floor``: two
    seeded halves of ``real`` instead (``fake`` unused).

    For a given seed both tests see the same split.
    """
    values = {key: [] for test in TESTS for key in (test, f"train_{test}")}
    for seed in seeds:
        for test in TESTS:
            rng = seeded(seed)
            first, second = halves(real, rng) if floor else (real, fake)
            held, train = two_sample(test, first, second, params, device, rng)
            values[test].append(held)
            values[f"train_{test}"].append(train)
        log.info("C2ST%s seed %d: %s", " floor" if floor else "", seed, {t: round(v[-1], 4) for t, v in values.items()})
    return values


def summary(values, seeds, **sizes):
    """``<test>_mean``, ``<test>_std`` (population std over splits), the per-split values, seeds and set sizes."""
    out = {}
    for test, per_split in values.items():
        out |= {f"{test}_mean": float(np.mean(per_split)), f"{test}_std": float(np.std(per_split))}
    out |= {test: [float(v) for v in per_split] for test, per_split in values.items()}
    return out | {"seeds": list(seeds)} | {k: int(v) for k, v in sizes.items()}


def c2st_repeated(real, fake, params, device, seeds):
    """Both tests over seeded splits: ``<test>_mean/_std`` held out, ``train_<test>_mean/_std``, per-split values."""
    check_pair(real, fake)
    seeds = check_seeds(seeds)
    values = repeat(real, fake, c2st_params(params), torch.device(device), seeds)
    return summary(values, seeds, n_real=len(real), n_fake=len(fake))


def c2st_floor(real, params, device, seeds):
    """The same tests on two seeded halves of ``real`` (real vs real): what an indistinguishable set scores."""
    check_tiles(real, "real", 2 * MIN_TILES)
    seeds = check_seeds(seeds)
    values = repeat(real, None, c2st_params(params), torch.device(device), seeds, floor=True)
    return summary(values, seeds, n_real=len(real))


def c2st_per_class(real, real_labels, fake, fake_labels, classes, params, device, seeds):
    """Both tests per class (labels are codes into ``classes``) and averaged over classes, each beside its floor.

    Returns ``{"classes": {name: {"c2st": ..., "floor": ...}}, "mean": {"c2st": ..., "floor": ...}}``,
    each in the format of :func:`c2st_repeated` / :func:`c2st_floor`; the mean averages the classes
    split by split, then takes mean ± std over splits. Every class needs ≥ 2·MIN_TILES real tiles
    (the floor halves them) and ≥ MIN_TILES generated ones, else an :class:`InputError` names each
    short class with its counts before anything is trained.
    """
    check_pair(real, fake)
    seeds, params, device = check_seeds(seeds), c2st_params(params), torch.device(device)
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    for tiles, labels, name in ((real, real_labels, "real"), (fake, fake_labels, "generated")):
        if labels.shape != (len(tiles),):
            raise InputError(f"C2ST: {len(tiles)} {name} tiles but {name} labels of shape {labels.shape}")
    counts = {str(c): (int((real_labels == k).sum()), int((fake_labels == k).sum())) for k, c in enumerate(classes)}
    short = [f"{c} ({r} real, {f} generated)" for c, (r, f) in counts.items() if r < 2 * MIN_TILES or f < MIN_TILES]
    if short:
        raise InputError(
            f"C2ST per class needs at least {2 * MIN_TILES} real and {MIN_TILES} generated tiles in every class; "
            f"too few in {', '.join(short)}"
        )
    per_class, values = {}, {"c2st": [], "floor": []}
    for k, c in enumerate(counts):
        real_k, fake_k = real[real_labels == k], fake[fake_labels == k]
        log.info("C2ST class %s: %d real, %d generated tiles", c, len(real_k), len(fake_k))
        values["c2st"].append(repeat(real_k, fake_k, params, device, seeds))
        values["floor"].append(repeat(real_k, None, params, device, seeds, floor=True))
        per_class[c] = {
            "c2st": summary(values["c2st"][-1], seeds, n_real=len(real_k), n_fake=len(fake_k)),
            "floor": summary(values["floor"][-1], seeds, n_real=len(real_k)),
        }
    n_real, n_fake = (sum(n[i] for n in counts.values()) for i in (0, 1))
    sizes = {"c2st": {"n_real": n_real, "n_fake": n_fake}, "floor": {"n_real": n_real}}
    mean = {
        kind: summary({t: np.mean([v[t] for v in per], axis=0) for t in per[0]}, seeds, **sizes[kind])
        for kind, per in values.items()
    }
    return {"classes": per_class, "mean": mean}


def verdict(c2st, floor):
    """``separable``, ``indistinguishable`` or :data:`INCONCLUSIVE` for a :func:`c2st_repeated` result and its floor.

    Inconclusive when either critic's mean score on the halves it was trained on is less than :data:`MARGIN`
    above :data:`CHANCE`: it did not learn, so its held-out score says nothing (the WGAN-GP critic is kept
    near 1-Lipschitz, so its estimate is a distance between [-1, 1] tiles). Otherwise separable when the
    held-out accuracy (whose scale does not depend on the tiles) is :data:`MARGIN` above the floor's.
    """
    if any(c2st[f"train_{test}_mean"] < CHANCE[test] + MARGIN for test in TESTS):
        return INCONCLUSIVE
    return "separable" if c2st["accuracy_mean"] >= floor["accuracy_mean"] + MARGIN else "indistinguishable"
