"""Seed-paired effects: a mean difference over seeds counts only when it exceeds its spread."""

import numpy as np

VERDICTS = ("improved", "worse", "no clear effect")


def clearly_positive(mean, std):
    """Whether a mean paired difference is more than one standard deviation (over seeds) above zero.

    Works on scalars and arrays; a single seed (std NaN) has no spread, so any positive mean counts.
    """
    return mean > np.nan_to_num(std)


def verdict(mean, std):
    """``improved`` / ``worse`` when the mean difference is more than one std from zero, else ``no clear effect``."""
    if clearly_positive(mean, std):
        return "improved"
    if clearly_positive(-mean, std):
        return "worse"
    return "no clear effect"
