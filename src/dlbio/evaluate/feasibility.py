"""Whether a GAN run's evaluation and the augmentation experiments on it can be scored: known from its tile
store and the config before any training, so a run that could not be scored never trains."""

import numpy as np

from dlbio.data.tiles import training_tiles
from dlbio.errors import InputError
from dlbio.evaluate.c2st import MIN_TILES
from dlbio.models.dcgan import n_generator_outputs


def check_evaluation_sizes(test_labels, classes, n_outputs, params, name):
    """Fail when run ``name`` has too few real test tiles per compared set, or ``n_generated`` too few per output.

    ``test_labels``: the run's real test tiles coded 0..K-1 over ``classes``; a generator with one
    output per class is compared class by class, a pooled one (one output) over all classes.
    """
    k = params["nearest_k"]
    counts = np.bincount(test_labels, minlength=len(classes)) if n_outputs > 1 else [len(test_labels)]
    names = classes if n_outputs > 1 else ["all classes"]
    need_real, need_fake = max(2 * MIN_TILES, k + 1), max(MIN_TILES, k + 1)
    short = [f"{c} ({n})" for c, n in zip(names, counts) if n < need_real]
    if short:
        raise InputError(
            f"run '{name}': evaluation needs ≥ {need_real} real test tiles per compared set "
            f"(C2ST halves them; precision/recall use nearest_k = {k}); too few in {', '.join(short)}"
        )
    per_output = -(-params["n_generated"] // n_outputs)
    if per_output < need_fake:
        raise InputError(
            f"config key 'evaluation.n_generated' = {params['n_generated']} gives {per_output} tiles per "
            f"generator output; at least {need_fake} are needed"
        )


def subsample_counts(counts, fraction, classes, key):
    """Tiles kept per class at ``fraction`` (half up); an error naming ``key`` when a class would keep none."""
    kept = np.floor(fraction * np.asarray(counts) + 0.5).astype(int)
    for c, n, k in zip(classes, counts, kept):
        if k == 0:
            need = f"use fractions of at least {0.5 / n:.3g}" if n else "the tile store has none"
            raise InputError(
                f"config key '{key}': fraction {fraction} keeps 0 of the {n} training tiles of '{c}'; {need}"
            )
    return kept


def check_run_can_be_scored(store, scoring, name):
    """Before run ``name`` trains on ``store``: its evaluation and the image augmentation experiments on it
    can be scored. ``scoring``: the run's ``arch`` and ``classes``, the ``evaluation`` settings (None when
    off) and ``augment_fractions`` (experiment → fractions). Returns the run's training and test tiles per class.
    """
    _, train, classes = training_tiles(store, scoring["classes"])
    _, test, _ = training_tiles(store, scoring["classes"], split="test")
    if scoring["evaluation"] is not None:
        outputs = n_generator_outputs(scoring["arch"], len(classes))
        check_evaluation_sizes(test, classes, outputs, scoring["evaluation"], name)
    counts = {split: np.bincount(y, minlength=len(classes)) for split, y in (("train", train), ("test", test))}
    for experiment, fractions in scoring["augment_fractions"].items():
        for fraction in fractions:
            subsample_counts(counts["train"], fraction, classes, f"augment_images.{experiment}.fractions")
        absent = [c for c, n in zip(classes, counts["test"]) if n == 0]
        if absent:
            raise InputError(
                f"augment_images.{experiment}: the tile store has no test tiles of class(es) {absent}; "
                "every class needs some to be scored"
            )
    return {f"{split}/{c}": int(n) for split, n_k in counts.items() for c, n in zip(classes, n_k)}
