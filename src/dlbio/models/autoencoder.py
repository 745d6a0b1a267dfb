"""Autoencoder of cells' expression: an MLP encoder to a linear bottleneck (the cell embedding) and back."""

from torch import nn


class Autoencoder(nn.Module):
    """Genes → hidden (ReLU) → latent, and latent → hidden (ReLU) → genes."""

    def __init__(self, n_genes, hidden, latent):
        super().__init__()
        self.n_genes, self.hidden, self.latent = n_genes, hidden, latent
        self.encoder = nn.Sequential(nn.Linear(n_genes, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, n_genes))

    def encode(self, x):
        """The bottleneck (embedding) of cells ``x``."""
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x))
