"""Node classifiers on cell graphs: a registered PyG encoder (``CELL_GNNS``) with a linear head."""

import warnings

from torch import nn
from torch_geometric.nn.models import GAT, GCN, GraphSAGE
from torch_geometric.utils import to_torch_csr_tensor

from dlbio.errors import InputError
from dlbio.models.registry import CELL_GNN_OWN_SETTINGS, CELL_GNNS

# torch flags sparse CSR as beta on every construction; the PyG message passing we use is covered by tests.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def sparse_adjacency(edge_index, num_nodes, edge_weight=None):
    """Transposed CSR adjacency (row = target) that PyG convs take in place of ``edge_index``.

    Message passing then runs as one sparse-dense matmul per layer: same output as
    ``edge_index``, 1.5-4× faster on CPU (``benchmarks/knn_graph.py``).
    """
    return to_torch_csr_tensor(edge_index.flip(0), edge_weight, size=(num_nodes, num_nodes))


@CELL_GNNS.register("gcn")
def gcn(in_dim, hidden, layers, dropout):
    """Graph convolutions (Kipf & Welling 2017), weighted by the kNN edge weights."""
    return GCN(in_dim, hidden, layers, dropout=dropout)


@CELL_GNNS.register("sage")
def sage(in_dim, hidden, layers, dropout):
    """GraphSAGE (Hamilton et al. 2017): mean aggregation over unweighted neighbours."""
    return GraphSAGE(in_dim, hidden, layers, dropout=dropout)


@CELL_GNNS.register("gat")
def gat(in_dim, hidden, layers, dropout, heads):
    """Graph attention (Veličković et al. 2018) with ``heads`` heads that split ``hidden``."""
    if heads is None:
        raise InputError("gnn.heads is required for GAT")
    if hidden % heads:
        raise InputError(f"gnn.hidden ({hidden}) must be a multiple of gnn.heads ({heads}) for GAT")
    return GAT(in_dim, hidden, layers, dropout=dropout, heads=heads)


class NodeClassifier(nn.Module):
    """The ``arch`` encoder of ``layers`` message-passing layers, then ReLU, dropout and a linear head.

    ``own`` holds the settings one model alone reads (``CELL_GNN_OWN_SETTINGS``, e.g. GAT's ``heads``); the
    other encoders ignore them.
    """

    def __init__(self, arch, in_dim, n_classes, hidden, layers, dropout, **own):
        super().__init__()
        own = {key: own.get(key) for key in CELL_GNN_OWN_SETTINGS.get(arch, ())}
        self.encoder = CELL_GNNS[arch](in_dim, hidden, layers, dropout, **own)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    @property
    def attends(self):
        """Whether the encoder is GAT, whose attention holds per-edge tensors (edges × hidden) in a forward."""
        return isinstance(self.encoder, GAT)

    def adjacency(self, graph):
        """The sparse adjacency this architecture reads from a ``graph`` (a ``Data`` or a sampled
        ``dlbio.train.sampling.Subgraph``): edge weights if its encoder uses them."""
        weight = graph.edge_weight if self.encoder.supports_edge_weight else None
        return sparse_adjacency(graph.edge_index, graph.num_nodes, weight)

    def embed(self, x, adj):
        """Hidden representation of every node (the encoder's output)."""
        return self.encoder(x, adj)

    def forward(self, x, adj):
        return self.head(self.embed(x, adj))

    def forward_sampled(self, x, subgraph):
        """Logits of a sampled subgraph's seeds (a ``dlbio.train.sampling.Subgraph``; ``x``: its nodes' features).

        GAT and SAGE skip what the seeds do not read (PyG's trim-to-layer: the last layer runs on the seeds'
        in-edges only, each earlier one a hop further out; half the time of the whole subgraph for GAT). GCN
        runs on the whole subgraph's sparse adjacency: trimming would change the degrees that normalise it.
        """
        if isinstance(self.encoder, GCN):
            hidden = self.embed(x, self.adjacency(subgraph))
        else:
            hidden = self.encoder(
                x,
                subgraph.edge_index,
                num_sampled_nodes_per_hop=subgraph.nodes_per_hop,
                num_sampled_edges_per_hop=subgraph.edges_per_hop,
            )
        return self.head(hidden[: subgraph.n_seeds])
