"""Graph-level property predictors on RDKit molecule graphs: GINE, an edge-conditioned MPNN and AttentiveFP."""

import torch
from torch import nn
from torch_geometric.nn import GINEConv, NNConv, global_add_pool
from torch_geometric.nn.models import AttentiveFP

from dlbio.models.registry import MOLECULE_MODELS


def mlp(*sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class MessagePassingPredictor(nn.Module):
    """Atom embedding → ``layers`` edge-aware convolutions (``conv``, + ReLU, dropout, residual) → sum pool → MLP."""

    def __init__(self, atom_dim, bond_dim, n_tasks, hidden, layers, dropout):
        super().__init__()
        self.embed = nn.Linear(atom_dim, hidden)
        self.convs = nn.ModuleList([self.conv(hidden, bond_dim) for _ in range(layers)])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(mlp(hidden, hidden, n_tasks))

    def forward(self, data):
        h = self.embed(data.x)
        for conv in self.convs:
            h = h + self.dropout(torch.relu(conv(h, data.edge_index, data.edge_attr)))
        return self.head(global_add_pool(h, data.batch))


@MOLECULE_MODELS.register("gine")
class GINEPredictor(MessagePassingPredictor):
    """GIN with bond features added to messages (Hu et al. 2020)."""

    @staticmethod
    def conv(hidden, bond_dim):
        return GINEConv(mlp(hidden, hidden, hidden), edge_dim=bond_dim)


@MOLECULE_MODELS.register("mpnn")
class MPNNPredictor(MessagePassingPredictor):
    """Edge-conditioned convolutions (NNConv, Gilmer et al. 2017): their weights are a function of the bond features."""

    @staticmethod
    def conv(hidden, bond_dim):
        return NNConv(hidden, hidden, mlp(bond_dim, 32, hidden * hidden), aggr="mean")


@MOLECULE_MODELS.register("attentivefp")
class AttentiveFPPredictor(nn.Module):
    """PyG's AttentiveFP (Xiong et al. 2020), pure PyTorch."""

    def __init__(self, atom_dim, bond_dim, n_tasks, hidden, layers, dropout):
        super().__init__()
        self.net = AttentiveFP(atom_dim, hidden, n_tasks, bond_dim, num_layers=layers, num_timesteps=2, dropout=dropout)

    def forward(self, data):
        return self.net(data.x, data.edge_index, data.edge_attr, data.batch)


def build_molecule_model(arch, atom_dim, bond_dim, n_tasks, hidden, layers, dropout):
    """A model mapping a PyG batch of molecules to ``(n_molecules, n_tasks)`` outputs."""
    return MOLECULE_MODELS[arch](atom_dim, bond_dim, n_tasks, hidden, layers, dropout)
