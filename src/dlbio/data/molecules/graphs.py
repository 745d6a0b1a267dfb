"""A tensor store (see :mod:`.featurize`) as a dataset: PyG batches gathered straight from its flat tensors.

No per-molecule Python object is made for training or predicting: :meth:`MoleculeGraphs.collate` indexes the
store's rows of a batch's molecules and casts them (uint8 features → float32, int32 indices → int64), giving
the ``Batch`` that ``Batch.from_data_list`` builds from those molecules' ``Data``.
"""

import numpy as np
import torch

STORE_KEYS = ("x", "edge_index", "edge_attr", "atom_ptr", "edge_ptr")


def _ranges(starts, counts):
    """``cat([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    before = torch.cumsum(counts, 0) - counts
    return torch.repeat_interleave(starts - before, counts) + torch.arange(int(counts.sum()))


class MoleculeGraphs:
    """The molecules of a tensor store: ``len(graphs)``, ``graphs[i]`` (a ``Data``), batches by :meth:`collate`.

    ``tensors`` holds :data:`STORE_KEYS` and optionally ``y`` ((M, T) or (M,) targets).
    """

    def __init__(self, tensors):
        self.x, self.edge_index, self.edge_attr, self.atom_ptr, self.edge_ptr = (tensors[k] for k in STORE_KEYS)
        y = tensors.get("y")
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.float32)
        if self.y is not None and self.y.dim() == 1:
            self.y = self.y[:, None]

    @classmethod
    def from_data_list(cls, data):
        """The molecules of PyG ``Data`` items (``x``, ``edge_index``, ``edge_attr``, optionally ``y`` (1, T))."""
        atom_ptr = torch.tensor([0] + [d.num_nodes for d in data]).cumsum(0)
        edge_ptr = torch.tensor([0] + [d.edge_index.shape[1] for d in data]).cumsum(0)
        tensors = {
            "x": torch.cat([d.x for d in data]),
            "edge_index": torch.cat([d.edge_index + a for d, a in zip(data, atom_ptr.tolist())], 1),
            "edge_attr": torch.cat([d.edge_attr for d in data]),
            "atom_ptr": atom_ptr,
            "edge_ptr": edge_ptr,
        }
        if data[0].y is not None:
            tensors["y"] = torch.cat([d.y for d in data])
        return cls(tensors)

    def __len__(self):
        return len(self.atom_ptr) - 1

    @property
    def num_node_features(self):
        return self.x.shape[1]

    @property
    def num_edge_features(self):
        return self.edge_attr.shape[1]

    def _gather(self, rows):
        """Fields of the molecules ``rows`` joined as one graph, and their atom counts."""
        rows = torch.as_tensor(np.asarray(rows), dtype=torch.long)
        first_atom, first_edge = self.atom_ptr[rows], self.edge_ptr[rows]
        n_atoms, n_edges = self.atom_ptr[rows + 1] - first_atom, self.edge_ptr[rows + 1] - first_edge
        edges = _ranges(first_edge, n_edges)
        shift = torch.cumsum(n_atoms, 0) - n_atoms - first_atom  # store atom index → batch atom index
        fields = {
            "x": self.x[_ranges(first_atom, n_atoms)].float(),
            "edge_index": self.edge_index[:, edges].long() + torch.repeat_interleave(shift, n_edges),
            "edge_attr": self.edge_attr[edges].float(),
        }
        if self.y is not None:
            fields["y"] = self.y[rows]
        return fields, n_atoms

    def __getitem__(self, i):
        from torch_geometric.data import Data  # local, as below: torch_geometric costs ~3 s to import

        return Data(**self._gather([range(len(self))[i]])[0])

    def collate(self, rows):
        """A PyG ``Batch`` of the molecules ``rows`` (a ``DataLoader``'s ``collate_fn`` over row numbers)."""
        from torch_geometric.data import Batch

        fields, n_atoms = self._gather(rows)
        batch = torch.repeat_interleave(torch.arange(len(n_atoms)), n_atoms)
        return Batch(**fields, batch=batch, ptr=torch.cat([n_atoms.new_zeros(1), torch.cumsum(n_atoms, 0)]))


def molecule_graphs(graphs):
    """``graphs`` as :class:`MoleculeGraphs`: itself, or a list of PyG ``Data`` joined."""
    return graphs if isinstance(graphs, MoleculeGraphs) else MoleculeGraphs.from_data_list(list(graphs))
