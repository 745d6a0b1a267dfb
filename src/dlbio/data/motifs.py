"""Binary sequences with one embedded motif per sequence, and motif counting (the seeds' mode-collapse data).

A training set mixes ``modes``: each mode is a motif (a string of 0s and 1s) and the fraction
of sequences that carry it. Every sequence is random background bits with its mode's motif
written over them at a uniformly random position. A sequence *carries* a motif when the motif
occurs anywhere in it (as the seeds' ``re.search``); background bits can carry one by chance.
"""

import numpy as np

POOLED_KERNEL = 5  # the pooled critic's second convolution (dlbio.models.conv1d_gan; dlbio.config_checks)


def as_bits(sequences):
    """A string of 0s and 1s → uint8 ``(L,)``; a list of equal-length strings → ``(N, L)``; arrays pass through."""
    if isinstance(sequences, str):
        return np.frombuffer(sequences.encode(), dtype=np.uint8) - ord("0")
    if len(sequences) and isinstance(sequences[0], str):
        return np.stack([as_bits(s) for s in sequences])
    return np.asarray(sequences, dtype=np.uint8)


def mode_sizes(fractions, n):
    """Sequences per mode: ``n · fraction`` rounded so that the sizes sum to ``n`` (largest remainders)."""
    exact = np.asarray(fractions, dtype=float) * n
    sizes = np.floor(exact).astype(int)
    sizes[np.argsort(sizes - exact)[: n - sizes.sum()]] += 1
    return sizes


def make_sequences(modes, n, length, seed):
    """``n`` random 0/1 sequences, each with its mode's motif at a random position.

    Returns uint8 sequences ``(n, length)`` and each sequence's mode index ``(n,)`` (shuffled,
    exactly :func:`mode_sizes` per mode).
    """
    rng = np.random.default_rng(seed)
    mode = rng.permutation(np.repeat(np.arange(len(modes)), mode_sizes([m["fraction"] for m in modes], n)))
    sequences = rng.integers(0, 2, (n, length), dtype=np.uint8)
    for k, entry in enumerate(modes):
        motif = as_bits(entry["motif"])
        rows = np.flatnonzero(mode == k)
        starts = rng.integers(0, length - len(motif) + 1, len(rows))
        sequences[rows[:, None], starts[:, None] + np.arange(len(motif))] = motif
    return sequences, mode


def carries(sequences, motif):
    """Boolean ``(N,)``: whether each 0/1 sequence contains ``motif`` anywhere (overlaps and repeats count once)."""
    sequences, motif = as_bits(sequences), as_bits(motif)
    if len(motif) > sequences.shape[1]:
        return np.zeros(len(sequences), dtype=bool)
    windows = np.lib.stride_tricks.sliding_window_view(sequences, len(motif), axis=1)
    return (windows == motif).all(-1).any(-1)


def motif_hits(sequences, motifs):
    """Boolean ``(N, M)``: whether sequence n carries motif m."""
    return np.stack([carries(sequences, m) for m in motifs], axis=1)
