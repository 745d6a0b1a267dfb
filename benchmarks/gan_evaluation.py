"""Benchmark the domain-feature FID of GAN evaluation: torchmetrics (ours) versus pytorch-fid's recipe.

Run from the repository root:

    .venv/bin/python benchmarks/gan_evaluation.py [--sizes 360 2000 6000] [--width 32 64] [--repeats 3]

Both sides score the same uint8 tiles (2 × 48 × 80, uniform noise: the speed does not depend on the
content) with the same tile classifier's penultimate features (an untrained ``TileClassifier``:
same cost as a trained one):

- ours: ``torchmetrics`` ``FrechetInceptionDistance`` with ``DomainFeatures`` as its feature
  extractor (what ``dlbio.evaluate.domain_metrics`` runs): streaming sums in float64 and the
  matrix square root's trace from eigenvalues in torch;
- baseline: pytorch-fid's recipe: all features to numpy, ``np.cov``, ``scipy.linalg.sqrtm`` of the
  covariance product, as in the usual FID scripts.

Prints best-of-``repeats`` seconds per side, the ratio and the two FIDs (they must agree).
"""

import argparse
import time

import numpy as np
import torch
from scipy import linalg
from torchmetrics.image.fid import FrechetInceptionDistance

from dlbio.evaluate.domain_metrics import DomainFeatures
from dlbio.models.tile_classifier import TileClassifier
from dlbio.train.tile_classifier import tile_features


def ours(classifier, real, fake, batch=256):
    fid = FrechetInceptionDistance(feature=DomainFeatures(classifier))
    for tiles, is_real in ((real, True), (fake, False)):
        for i in range(0, len(tiles), batch):
            fid.update(torch.as_tensor(tiles[i : i + batch]), real=is_real)
    return float(fid.compute())


def baseline(classifier, real, fake):
    a, b = (tile_features(classifier, x, torch.device("cpu")).astype(np.float64) for x in (real, fake))
    mu, sigma = [a.mean(0), b.mean(0)], [np.cov(a, rowvar=False), np.cov(b, rowvar=False)]
    covmean = linalg.sqrtm(sigma[0] @ sigma[1]).real
    return float(((mu[0] - mu[1]) ** 2).sum() + np.trace(sigma[0] + sigma[1] - 2 * covmean))


def best_time(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[360, 2000, 6000])
    parser.add_argument("--width", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    header = ("width", 5), ("features", 8), ("tiles", 6), ("ours s", 8), ("baseline s", 10), ("ratio", 6)
    print(*(f"{name:>{w}}" for name, w in header + (("FID ours", 12), ("baseline", 12))))
    for width in args.width:
        torch.manual_seed(0)
        classifier = TileClassifier(6, 2, (48, 80), width).eval()
        for n in args.sizes:
            real, fake = (rng.integers(0, 256, (n, 2, 48, 80), dtype=np.uint8) for _ in range(2))
            fake[:, 1] //= 2  # a real difference to measure
            t_ours, fid_ours = best_time(lambda: ours(classifier, real, fake), args.repeats)
            t_base, fid_base = best_time(lambda: baseline(classifier, real, fake), args.repeats)
            features = classifier.head.in_features
            print(
                f"{width:>5} {features:>8} {n:>6} {t_ours:>8.2f} {t_base:>10.2f} {t_base / t_ours:>6.2f}"
                f" {fid_ours:>12.4f} {fid_base:>12.4f}"
            )


if __name__ == "__main__":
    main()
