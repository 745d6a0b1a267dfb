"""Matplotlib for figure files: the non-interactive Agg backend, chosen once here. Plot with
``from dlbio.figures import plt``."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt"]
