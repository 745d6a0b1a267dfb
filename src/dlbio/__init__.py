"""dlbio: deep learning on biomedical data, as a Snakemake workflow."""

__version__ = "0.1.0"
