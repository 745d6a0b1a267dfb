"""Nearest training molecule by Tanimoto similarity of fingerprint bit vectors (the applicability domain).

Bit vectors are the ``(M, n_bits)`` 0/1 arrays of
:func:`~dlbio.train.fingerprint_baseline.morgan_fingerprints`. Similarities are computed block by block as
one matrix product per block (``|a ∧ b| = a · b``, Tanimoto ``|a ∧ b| / (|a| + |b| − |a ∧ b|)``), so memory
stays at ``block × n_train`` floats for any library size. Two empty fingerprints have similarity 0, as in RDKit.
"""

import numpy as np


def nearest_training(query_bits, train_bits, block=1024):
    """``(similarity, index)``: each query molecule's highest Tanimoto similarity to the training molecules and
    the row of that training molecule (the first one on ties)."""
    train = np.asarray(train_bits, dtype=np.float32)
    train_counts = train.sum(1)
    best = np.zeros(len(query_bits), dtype=np.float64)
    index = np.zeros(len(query_bits), dtype=np.int64)
    for start in range(0, len(query_bits), block):
        query = np.asarray(query_bits[start : start + block], dtype=np.float32)
        common = query @ train.T
        union = query.sum(1, keepdims=True) + train_counts - common
        similarity = np.divide(common, union, out=np.zeros_like(common), where=union > 0)
        rows = slice(start, start + len(query))
        index[rows] = similarity.argmax(1)
        best[rows] = similarity[np.arange(len(query)), index[rows]]
    return best, index
