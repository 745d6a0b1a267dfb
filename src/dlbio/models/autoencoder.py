"""Autoencoder of cells' expression: an MLP encoder to a linear bottleneck (the cell embedding) and back."""

import torch
from torch import nn


class Autoencoder(nn.Module):
    """Genes → hidden (ReLU) → latent, and latent → hidden (ReLU) → genes.

    ``gene_scale`` (a fixed per-gene factor, default 1) multiplies the input before the encoder, and the
    decoder reconstructs the input so multiplied: fed unit-variance scaled genes with their standard deviations
    as ``gene_scale``, the net reads and reconstructs the log-normalised values, where each gene weighs in the
    squared error by its own variance instead of every gene equally.
    """

    def __init__(self, n_genes, hidden, latent, gene_scale=None):
        super().__init__()
        self.n_genes, self.hidden, self.latent = n_genes, hidden, latent
        scale = torch.ones(n_genes) if gene_scale is None else torch.as_tensor(gene_scale, dtype=torch.float32)
        if scale.shape != (n_genes,):
            raise ValueError(f"gene_scale of shape {tuple(scale.shape)}: expected ({n_genes},)")
        self.register_buffer("gene_scale", scale.clone())
        self.encoder = nn.Sequential(nn.Linear(n_genes, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_genes))

    def target(self, x):
        """What the net reconstructs of cells ``x``: ``x`` times ``gene_scale``."""
        return x * self.gene_scale

    def encode(self, x):
        """The bottleneck (embedding) of cells ``x``."""
        return self.encoder(self.target(x))

    def forward(self, x):
        return self.decoder(self.encode(x))
