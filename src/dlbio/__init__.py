"""dlbio: deep learning on biomedical data, as a Snakemake workflow."""

import os

# MKL (torch's CPU BLAS) may otherwise pick kernels by memory alignment, so two processes running
# the same config could differ in the last float digits. Must be set before torch loads MKL.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"
