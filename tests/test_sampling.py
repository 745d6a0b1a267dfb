"""Neighbour sampling over the in-neighbour CSR: fanout, true edges, seeds first, determinism, batches."""

import torch

from dlbio.train.sampling import in_neighbours, minibatches, sample_subgraph

N = 300


def random_graph(seed=0):
    """A directed graph of ``N`` nodes with in-degrees 0 to 29, weighted by edge id, no duplicate edges."""
    gen = torch.Generator().manual_seed(seed)
    degree = torch.randint(0, 30, (N,), generator=gen)
    target = torch.repeat_interleave(torch.arange(N), degree)
    source = torch.cat([torch.randperm(N, generator=gen)[:d] for d in degree.tolist()])
    perm = torch.randperm(len(target), generator=gen)  # edges in no particular order
    edge_index = torch.stack([source, target])[:, perm]
    return edge_index, torch.arange(len(target), dtype=torch.float32)[perm]


def edges_of(edge_index, weight):
    return {(int(s), int(t)): float(w) for (s, t), w in zip(edge_index.T, weight)}


def test_in_neighbours_is_the_csr_of_targets():
    edge_index, weight = random_graph()
    graph = in_neighbours(edge_index, N, weight)
    assert graph.num_nodes == N and graph.rowptr[-1] == edge_index.shape[1]
    target = torch.repeat_interleave(torch.arange(N), graph.rowptr.diff())
    assert edges_of(torch.stack([graph.source, target]), graph.weight) == edges_of(edge_index, weight)


def test_subgraph_has_seeds_first_true_edges_and_at_most_fanout_per_node():
    edge_index, weight = random_graph()
    true = edges_of(edge_index, weight)
    graph = in_neighbours(edge_index, N, weight)
    seeds = torch.tensor([5, 17, 3, 250])
    sub = sample_subgraph(graph, seeds, 4, 2, torch.Generator().manual_seed(0))
    assert sub.n_seeds == 4 and torch.equal(sub.nodes[:4], seeds) and len(sub.nodes.unique()) == sub.num_nodes
    sampled = edges_of(sub.nodes[sub.edge_index], sub.edge_weight)
    assert len(sampled) == sub.edge_index.shape[1]  # no edge twice
    assert all(true[edge] == w for edge, w in sampled.items())  # true edges with their weights
    in_degree = torch.bincount(sub.edge_index[1], minlength=sub.num_nodes)
    full = graph.rowptr.diff()[sub.nodes]
    assert torch.equal(in_degree[:4], full[:4].clamp(max=4))  # each seed: min(degree, fanout)
    assert (in_degree <= 4).all() and in_degree.sum() > 4 * 4  # the second hop was sampled too


def test_sampling_is_seeded():
    graph = in_neighbours(random_graph()[0], N)
    seeds = torch.arange(0, N, 7)
    runs = [sample_subgraph(graph, seeds, 3, 2, torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(runs[0].nodes, runs[1].nodes) and torch.equal(runs[0].edge_index, runs[1].edge_index)
    assert not torch.equal(runs[0].edge_index, runs[2].edge_index)
    assert runs[0].edge_weight is None


def test_fanout_minus_one_gives_every_in_neighbour():
    edge_index, weight = random_graph()
    graph = in_neighbours(edge_index, N, weight)
    seeds = torch.tensor([8, 0, 99])
    sub = sample_subgraph(graph, seeds, -1, 1)
    sampled = edges_of(sub.nodes[sub.edge_index], sub.edge_weight)
    assert sampled == {e: w for e, w in edges_of(edge_index, weight).items() if e[1] in (8, 0, 99)}


def test_minibatches_cover_the_nodes_once_in_seeded_order():
    nodes = torch.arange(10, 110)
    batches = minibatches(nodes, 32, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert torch.equal(torch.cat(batches).sort().values, nodes)
    again = minibatches(nodes, 32, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
