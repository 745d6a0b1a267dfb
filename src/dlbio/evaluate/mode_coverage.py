"""Mode coverage: which classes a domain classifier sees in generated tiles, against what it should see."""

import numpy as np


def class_distribution(predicted, n_classes):
    """Fraction of tiles assigned to each of ``n_classes`` classes."""
    return np.bincount(np.asarray(predicted), minlength=n_classes) / max(len(predicted), 1)


def total_variation(p, q):
    """Total-variation distance ½ Σ |p − q| between two distributions (0 = equal, 1 = disjoint)."""
    return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())


def mode_coverage(proba, target, classes):
    """Assigned class distribution of generated tiles (argmax of ``proba``, N × K) vs ``target`` (K).

    Returns ``mode_tv`` (total-variation distance), ``modes_covered`` (classes the target
    expects that receive at least half their expected share) and ``assigned/<class>``.
    """
    assigned = class_distribution(proba.argmax(1), len(classes))
    expected = np.asarray(target) > 0
    covered = int((assigned[expected] >= 0.5 * np.asarray(target)[expected]).sum())
    return {
        "mode_tv": total_variation(assigned, target),
        "modes_covered": covered,
        "modes_expected": int(expected.sum()),
    } | {f"assigned/{c}": float(a) for c, a in zip(classes, assigned)}


def class_agreement(proba, intended):
    """Fraction of generated tiles whose assigned class is the class they were generated for (codes)."""
    return float(np.mean(proba.argmax(1) == np.asarray(intended)))
