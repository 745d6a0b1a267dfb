"""Graph-level property predictors on RDKit molecule graphs: GINE, an edge-conditioned MPNN, AttentiveFP, D-MPNN.

Every builder takes ``(atom_dim, bond_dim, n_tasks, params)``, ``params`` a ``molecules.<name>.gnn`` config entry
(``hidden``, ``layers``, ``dropout``, ``aggregation``; AttentiveFP has its own attentive readout).
"""

from itertools import pairwise

import torch
from torch import nn
from torch_geometric.nn import GINEConv, NNConv, global_add_pool, global_mean_pool
from torch_geometric.nn.models import AttentiveFP

from dlbio.models.registry import MOLECULE_MODELS


def mlp(*sizes):
    layers = []
    for a, b in pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


AGGREGATION_NORM = 100.0  # chemprop's "norm" readout: the atom sum divided by this


def aggregate(h, batch, how):
    """Molecule vectors from atom vectors ``h``: their ``sum``, ``mean`` or ``norm`` (sum / 100, chemprop's default)."""
    if how == "mean":
        return global_mean_pool(h, batch)
    pooled = global_add_pool(h, batch)
    return pooled / AGGREGATION_NORM if how == "norm" else pooled


class MessagePassingPredictor(nn.Module):
    """Atom embedding → ``layers`` edge-aware convolutions (``conv``, + ReLU, dropout, residual) → readout → MLP."""

    def __init__(self, atom_dim, bond_dim, n_tasks, params):
        super().__init__()
        hidden = params["hidden"]
        self.embed = nn.Linear(atom_dim, hidden)
        self.convs = nn.ModuleList([self.conv(hidden, bond_dim) for _ in range(params["layers"])])
        self.dropout = nn.Dropout(params["dropout"])
        self.aggregation = params["aggregation"]
        self.head = nn.Sequential(mlp(hidden, hidden, n_tasks))

    def forward(self, data):
        h = self.embed(data.x)
        for conv in self.convs:
            h = h + self.dropout(torch.relu(conv(h, data.edge_index, data.edge_attr)))
        return self.head(aggregate(h, data.batch, self.aggregation))


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

    def __init__(self, atom_dim, bond_dim, n_tasks, params):
        super().__init__()
        self.net = AttentiveFP(
            atom_dim,
            params["hidden"],
            n_tasks,
            bond_dim,
            num_layers=params["layers"],
            num_timesteps=2,
            dropout=params["dropout"],
        )

    def forward(self, data):
        return self.net(data.x, data.edge_index, data.edge_attr, data.batch)


def reverse_edges(edge_index, num_nodes):
    """For every directed edge u → v the index of its reverse v → u (every bond must be stored both ways).

    Vectorised: one sort of the edge keys ``u * num_nodes + v`` and a binary search for ``v * num_nodes + u``.
    """
    src, dst = edge_index
    key, wanted = src * num_nodes + dst, dst * num_nodes + src
    order = torch.argsort(key)
    found = torch.searchsorted(key[order], wanted).clamp(max=max(key.numel() - 1, 0))
    rev = order[found]
    if not torch.equal(key[rev], wanted):
        raise ValueError("D-MPNN needs every bond as two directed edges (u → v and v → u) in edge_index")
    return rev


@MOLECULE_MODELS.register("dmpnn")
class DMPNNPredictor(nn.Module):
    """Chemprop's directed message passing network (D-MPNN, Yang et al. 2019), on PyG batches.

    Hidden states live on directed bonds: ``h⁰_uv = ReLU(W_i [x_u ‖ e_uv])``; ``layers - 1`` updates
    ``h_uv ← ReLU(h⁰_uv + W_h m_uv)`` with ``m_uv = Σ_{w→u} h_wu − h_vu`` (all messages into ``u`` except the
    one from ``v``, the reverse bond); atom states ``ReLU(W_o [x_v ‖ Σ_{u→v} h_uv])``; ``aggregation`` over the
    atoms; an FFN (``hidden`` wide, one hidden layer) per task. Dropout after every update, as in chemprop.
    """

    def __init__(self, atom_dim, bond_dim, n_tasks, params):
        super().__init__()
        hidden = params["hidden"]
        self.depth, self.aggregation = params["layers"], params["aggregation"]
        self.W_i = nn.Linear(atom_dim + bond_dim, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_o = nn.Linear(atom_dim + hidden, hidden)
        self.dropout = nn.Dropout(params["dropout"])
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(params["dropout"]), nn.Linear(hidden, n_tasks)
        )

    def messages(self, h, src, dst, rev, num_nodes):
        """``m_uv``: the sum of the states on the edges into ``u`` minus the state of the reverse edge ``v → u``."""
        into = h.new_zeros(num_nodes, h.size(1)).index_add_(0, dst, h)
        return into.index_select(0, src) - h.index_select(0, rev)  # index_select: a faster backward than [ ]

    def encode(self, data):
        """Atom vectors ``(N, hidden)`` of a batch."""
        x, (src, dst), n = data.x, data.edge_index, data.num_nodes
        rev = reverse_edges(data.edge_index, n)
        h0 = self.W_i(torch.cat([x.index_select(0, src), data.edge_attr], dim=1))
        h = torch.relu(h0)
        for _ in range(self.depth - 1):
            h = self.dropout(torch.relu(h0 + self.W_h(self.messages(h, src, dst, rev, n))))
        into = h.new_zeros(n, h.size(1)).index_add_(0, dst, h)
        return self.dropout(torch.relu(self.W_o(torch.cat([x, into], dim=1))))

    def forward(self, data):
        return self.head(aggregate(self.encode(data), data.batch, self.aggregation))


def build_molecule_model(arch, atom_dim, bond_dim, n_tasks, params):
    """A model mapping a PyG batch of molecules to ``(n_molecules, n_tasks)`` outputs; ``params``: the gnn entry."""
    return MOLECULE_MODELS[arch](atom_dim, bond_dim, n_tasks, params)
