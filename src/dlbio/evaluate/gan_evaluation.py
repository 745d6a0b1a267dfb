"""Evaluation of one GAN run against its dataset's real held-out (test) tiles, with no downloaded weights.

For the trained generator and for each of its snapshots, ``n_generated`` tiles (split evenly
over the generator's outputs) are scored with

- domain-feature distances (:mod:`dlbio.evaluate.domain_metrics`): FID, KID, precision,
  recall, density, coverage in the penultimate features of the dataset's tile classifier;
- mode coverage (:mod:`dlbio.evaluate.mode_coverage`): total-variation distance between the
  class distribution the classifier assigns to generated tiles and the expected one (the
  real training proportions of the run's classes for a pooled generator, its outputs'
  classes for a star-shaped one), and for star-shaped generators the class agreement;
- on simulated datasets, the Wasserstein distance between real and generated cell lengths
  (:mod:`dlbio.evaluate.cell_stats`), the fraction of generated tiles without a measurable
  cell, and the length measurement's correlation with the simulation's ground truth;

and the trained generator also with C2ST (:mod:`dlbio.evaluate.c2st`) beside its real-vs-real
floor, per class and averaged for star-shaped generators, with its verdict (``c2st_verdict``); an
inconclusive C2ST (the critic did not learn) has null held-out scores. Every value is flat in one
dict; per-class values are named ``<metric>/<class>``; an undefined value is null.
"""

import logging

import numpy as np
import pandas as pd

from dlbio.data.tiles import training_tiles
from dlbio.evaluate.c2st import INCONCLUSIVE, c2st_floor, c2st_per_class, c2st_repeated, verdict
from dlbio.evaluate.cell_stats import cell_lengths, latent_lengths, length_distance
from dlbio.evaluate.domain_metrics import domain_metrics
from dlbio.evaluate.feasibility import check_evaluation_sizes
from dlbio.evaluate.mode_coverage import class_agreement, class_distribution, mode_coverage
from dlbio.train.gan import load_generator, sample_tiles
from dlbio.train.tile_classifier import predict_tiles

log = logging.getLogger(__name__)
HEADLINE = (
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "mode_tv",
    "class_agreement",
    "cell_length_wasserstein",
)
HELD_OUT = ("wasserstein_mean", "wasserstein_std", "accuracy_mean", "accuracy_std")
C2ST_KEYS = HELD_OUT + ("train_wasserstein_mean", "train_accuracy_mean")


def flat_c2st(result, suffix=""):
    """``c2st_verdict<suffix>``, ``c2st_<statistic><suffix>`` and ``floor_<statistic><suffix>`` from
    ``{"c2st": ..., "floor": ...}``; the held-out C2ST scores are null when the verdict is inconclusive."""
    judged = verdict(result["c2st"], result["floor"])
    out = {f"c2st_verdict{suffix}": judged}
    out |= {f"{kind}_{k}{suffix}": result[kind][k] for kind in ("c2st", "floor") for k in C2ST_KEYS}
    return out | ({f"c2st_{k}{suffix}": None for k in HELD_OUT} if judged == INCONCLUSIVE else {})


class GANEvaluation:
    """Scores generators of one run (``run``: its config entry plus ``name``) on the real test tiles.

    ``store`` is the dataset's tile store, ``classifier`` its trained tile classifier (over all
    of the store's classes), ``params`` the config's ``evaluation`` section and
    ``simulated_dir`` the simulated folder when the dataset is simulated (enables cell lengths).
    """

    def __init__(self, run, store, classifier, params, device, simulated_dir=None):
        self.run, self.classifier, self.params, self.device = run, classifier, params, device
        self.all_classes = store["classes"]
        train, train_labels, self.classes = training_tiles(store, run["classes"])
        self.codes = np.searchsorted(self.all_classes, self.classes)  # run class → classifier class
        self.real, self.labels, _ = training_tiles(store, run["classes"], split="test")
        self.channels, self.size = train.shape[1], train.shape[2:]
        self.target = np.zeros(len(self.all_classes))  # what a pooled generator should produce
        self.target[self.codes] = class_distribution(train_labels, len(self.classes))
        self.simulated = simulated_dir is not None
        if self.simulated:
            self.real_lengths = cell_lengths(self.real)
            test = store["split"] == "test"
            truth = latent_lengths(store["paths"][test][np.isin(store["labels"][test], self.codes)], simulated_dir)
            self.length_r = float(np.corrcoef(self.real_lengths, truth)[0, 1])

    def check_sizes(self, n_outputs):
        """Fail before any generation when the test set or ``n_generated`` is too small to score."""
        check_evaluation_sizes(self.labels, self.classes, n_outputs, self.params, self.run["name"])

    def per_output(self, n_outputs):
        return -(-self.params["n_generated"] // n_outputs)

    def generate(self, path):
        """Tiles of the generator saved at ``path`` and the output (run class when star-shaped) of each."""
        generator = load_generator(path, self.run, len(self.classes), self.channels, self.size, self.device)
        self.check_sizes(generator.n_outputs)
        tiles, outputs = sample_tiles(generator, self.per_output(generator.n_outputs), self.params["seed"], self.device)
        return tiles, outputs, generator.n_outputs > 1

    def scores(self, fake, outputs, conditional):
        """Domain metrics, mode coverage and cell lengths; per class as well for a star-shaped generator."""
        p, device = self.params, self.device
        proba = predict_tiles(self.classifier, fake, device)
        kid = {
            "nearest_k": p["nearest_k"],
            "kid_subsets": p["kid_subsets"],
            "kid_subset_size": p["kid_subset_size"],
            "seed": p["seed"],
        }
        out = domain_metrics(self.classifier, self.real, fake, device, **kid)
        expected = class_distribution(self.codes[outputs], len(self.all_classes)) if conditional else self.target
        out |= mode_coverage(proba, expected, self.all_classes)
        lengths = cell_lengths(fake) if self.simulated else None
        if self.simulated:
            out["cell_length_wasserstein"] = length_distance(self.real_lengths, lengths)
            out["cell_unmeasured"] = float(np.isnan(lengths).mean())  # blank tiles: no cell to measure
        if not conditional:
            return out
        out["class_agreement"] = class_agreement(proba, self.codes[outputs])
        for k, c in enumerate(self.classes):
            real_k, fake_k = self.labels == k, outputs == k
            per_class = domain_metrics(self.classifier, self.real[real_k], fake[fake_k], device, **kid)
            per_class["class_agreement"] = class_agreement(proba[fake_k], self.codes[k])
            if self.simulated:
                per_class["cell_length_wasserstein"] = length_distance(self.real_lengths[real_k], lengths[fake_k])
            out |= {f"{name}/{c}": value for name, value in per_class.items()}
        return out

    def c2st(self, fake, outputs, conditional):
        """C2ST mean ± std over ``c2st.repeats`` seeded splits, its real-vs-real floor and verdict (per class if
        star-shaped)."""
        c2st = dict(self.params["c2st"])
        seeds = [self.params["seed"] + i for i in range(c2st.pop("repeats"))]
        c2st.pop("snapshots")
        if not conditional:
            return flat_c2st(
                {
                    "c2st": c2st_repeated(self.real, fake, c2st, self.device, seeds),
                    "floor": c2st_floor(self.real, c2st, self.device, seeds),
                }
            )
        result = c2st_per_class(self.real, self.labels, fake, outputs, self.classes, c2st, self.device, seeds)
        out = flat_c2st(result["mean"])
        for c, per_class in result["classes"].items():
            out |= flat_c2st(per_class, f"/{c}")
        return out

    def evaluate(self, generator_path, snapshots):
        """Summary of the trained generator and a table of headline scores per snapshot ``(iteration, path)``
        and for the trained generator (the last row).

        Returns ``(summary, table, fake, rows)``: the trained generator's tiles and the run class each
        is shown under in the real/fake montage (see :meth:`montage_rows`).
        """
        fake, outputs, conditional = self.generate(generator_path)
        final = self.scores(fake, outputs, conditional)
        log.info("run %s: %s", self.run["name"], {k: round(v, 4) for k, v in final.items() if k in HEADLINE})
        c2st = self.c2st(fake, outputs, conditional)
        rows = []
        for iteration, path in snapshots:
            if iteration == self.run["iterations"]:
                continue  # the trained generator itself, scored above
            tiles, labels, _ = self.generate(path)
            row = self.scores(tiles, labels, conditional)
            if self.params["c2st"]["snapshots"]:
                row |= self.c2st(tiles, labels, conditional)
            rows.append({"iteration": iteration} | row)
            log.info("snapshot %d: FID %.3f, mode TV %.3f", iteration, row["fid"], row["mode_tv"])
        rows.append({"iteration": self.run["iterations"]} | final | c2st)
        table = pd.DataFrame([{k: v for k, v in row.items() if "/" not in k} for row in rows])
        meta = {
            "run": self.run["name"],
            "dataset": self.run["dataset"],
            "arch": self.run["arch"],
            "algorithm": self.run["algorithm"],
            "iterations": self.run["iterations"],
            "n_real": len(self.real),
            "n_generated": len(fake),
        }
        if self.simulated:
            meta["cell_length_latent_r"] = self.length_r
        summary = {k: none_if_nan(v) for k, v in (meta | headline_first(c2st | final)).items()}
        return summary, table, fake, self.montage_rows(fake, outputs, conditional)

    def montage_rows(self, fake, outputs, conditional):
        """Montage row (run class) of each generated tile: its output (star-shaped) or its assigned class; −1 = none."""
        if conditional:
            return outputs
        assigned = predict_tiles(self.classifier, fake, self.device).argmax(1)
        rows = np.full(len(fake), -1)
        for k, code in enumerate(self.codes):
            rows[assigned == code] = k
        return rows


def none_if_nan(value):
    """JSON has no NaN: an undefined score (e.g. no measurable generated cell) is written as null."""
    return None if isinstance(value, float) and not np.isfinite(value) else value


def headline_first(scores):
    """C2ST and headline keys first, then per-class and other keys, in a stable order."""
    first = [k for k in scores if "/" not in k]
    return {k: scores[k] for k in first} | {k: scores[k] for k in scores if k not in first}
