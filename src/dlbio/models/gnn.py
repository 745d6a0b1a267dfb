"""Node classifiers on cell graphs: PyG's GCN / GraphSAGE / GAT encoders with a linear head."""

import warnings

from torch import nn
from torch_geometric.nn.models import GAT, GCN, GraphSAGE
from torch_geometric.utils import to_torch_csr_tensor

from dlbio.errors import InputError

ENCODERS = {"gcn": GCN, "sage": GraphSAGE, "gat": GAT}
WEIGHTED = {"gcn"}  # encoders that use the kNN edge weights; the others aggregate unweighted
# torch flags sparse CSR as beta on every construction; the PyG message passing we use is covered by tests.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def sparse_adjacency(edge_index, num_nodes, edge_weight=None):
    """Transposed CSR adjacency (row = target) that PyG convs take in place of ``edge_index``.

    Message passing then runs as one sparse-dense matmul per layer: same output as
    ``edge_index``, 1.5-4× faster on CPU (``benchmarks/knn_graph.py``).
    """
    return to_torch_csr_tensor(edge_index.flip(0), edge_weight, size=(num_nodes, num_nodes))


class NodeClassifier(nn.Module):
    """GNN encoder of ``layers`` message-passing layers, then ReLU, dropout and a linear head.

    ``heads`` (attention heads) is read by GAT only, which requires it; the other encoders ignore it.
    """

    def __init__(self, arch, in_dim, n_classes, hidden, layers, dropout, heads=None):
        super().__init__()
        if arch not in ENCODERS:
            raise InputError(f"unknown model '{arch}'; choose from {sorted(ENCODERS)}")
        extra = {}
        if arch == "gat":
            if heads is None:
                raise InputError("gnn.heads is required for GAT")
            if hidden % heads:
                raise InputError(f"gnn.hidden ({hidden}) must be a multiple of gnn.heads ({heads}) for GAT")
            extra["heads"] = heads
        self.arch = arch
        self.encoder = ENCODERS[arch](in_dim, hidden, layers, dropout=dropout, **extra)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    def adjacency(self, data):
        """The sparse adjacency this architecture reads from a graph ``Data``."""
        weight = data.edge_weight if self.arch in WEIGHTED else None
        return sparse_adjacency(data.edge_index, data.num_nodes, weight)

    def embed(self, x, adj):
        """Hidden representation of every node (the encoder's output)."""
        return self.encoder(x, adj)

    def forward(self, x, adj):
        return self.head(self.embed(x, adj))
