"""Neighbour sampling over a graph's in-neighbour CSR for mini-batch GNN training, in plain torch.

PyG's ``NeighborLoader`` needs pyg-lib or torch-sparse; this samples the same kind of subgraph with
vectorised torch ops (no Python loop over nodes), on CPU with a seeded generator.
"""

from typing import NamedTuple

import torch


class InNeighbours(NamedTuple):
    """A graph as CSR of in-neighbours: node ``v`` receives from ``source[rowptr[v]:rowptr[v + 1]]``
    with weights ``weight`` at the same positions (``None``: unweighted)."""

    rowptr: torch.Tensor
    source: torch.Tensor
    weight: torch.Tensor | None

    @property
    def num_nodes(self):
        return len(self.rowptr) - 1


class Subgraph(NamedTuple):
    """Sampled subgraph: global ``nodes`` (the ``n_seeds`` seeds first), ``edge_index`` into ``nodes``
    (source, target) and the sampled edges' ``edge_weight`` (``None``: unweighted graph).

    Nodes and edges are ordered by hop, with their counts per hop (seeds = hop 0; hop ``h``'s edges point
    into hop ``h``'s nodes) as PyG's ``trim_to_layer`` reads them.
    """

    nodes: torch.Tensor
    edge_index: torch.Tensor
    edge_weight: torch.Tensor | None
    n_seeds: int
    nodes_per_hop: list
    edges_per_hop: list

    @property
    def num_nodes(self):
        return len(self.nodes)

    def to(self, device):
        """The subgraph with its tensors on ``device``."""
        weight = None if self.edge_weight is None else self.edge_weight.to(device)
        return self._replace(nodes=self.nodes.to(device), edge_index=self.edge_index.to(device), edge_weight=weight)


def in_neighbours(edge_index, num_nodes, edge_weight=None):
    """The :class:`InNeighbours` of a graph given as ``edge_index`` (source, target) and ``edge_weight``."""
    order = torch.argsort(edge_index[1], stable=True)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    rowptr[1:] = torch.bincount(edge_index[1], minlength=num_nodes).cumsum(0)
    return InNeighbours(rowptr, edge_index[0, order], None if edge_weight is None else edge_weight[order])


def sample_edges(graph, targets, fanout, generator=None):
    """Up to ``fanout`` in-edges of each node of ``targets`` (``-1``: all), drawn without replacement.

    Returns the edges' positions in ``graph.source`` and, per edge, the index of its target in ``targets``.
    """
    start = graph.rowptr[targets]
    degree = graph.rowptr[targets + 1] - start
    owner = torch.repeat_interleave(torch.arange(len(targets)), degree)
    rank = torch.arange(len(owner)) - torch.repeat_interleave(degree.cumsum(0) - degree, degree)
    if fanout >= 0 and len(owner) and int(degree.max()) > fanout:
        # each target's block in random order (sorted by owner + uniform noise), then its first fanout
        shuffled = torch.argsort(owner + torch.rand(len(owner), generator=generator, dtype=torch.float64), stable=True)
        keep = shuffled[rank < fanout]
        return start[owner[keep]] + rank[keep], owner[keep]
    return start[owner] + rank, owner


def sample_subgraph(graph, seeds, fanout, layers, generator=None):
    """The :class:`Subgraph` that ``layers`` message-passing layers read for the (distinct) ``seeds``.

    Hop by hop, each node new to the subgraph receives up to ``fanout`` of its in-edges (``-1``: all),
    drawn without replacement; their sources not yet in the subgraph form the next hop's nodes.
    """
    local = torch.full((graph.num_nodes,), -1, dtype=torch.long)  # global -> subgraph id
    local[seeds] = torch.arange(len(seeds))
    nodes, frontier, edges, pairs = [seeds], seeds, [], []
    for _ in range(layers):
        edge, owner = sample_edges(graph, frontier, fanout, generator)
        source = graph.source[edge]
        new = torch.unique(source[local[source] < 0])
        local[new] = torch.arange(len(new)) + sum(map(len, nodes))
        nodes.append(new)
        edges.append(edge)
        pairs.append(torch.stack([local[source], local[frontier[owner]]]))
        frontier = new
    edge = torch.cat(edges)
    weight = None if graph.weight is None else graph.weight[edge]
    counts = [len(part) for part in nodes], [len(part) for part in edges]
    return Subgraph(torch.cat(nodes), torch.cat(pairs, 1), weight, len(seeds), *counts)


def minibatches(nodes, batch_size, generator=None):
    """``nodes`` shuffled and split into batches of ``batch_size`` (the last one may be smaller)."""
    return nodes[torch.randperm(len(nodes), generator=generator)].split(batch_size)
