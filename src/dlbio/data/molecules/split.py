"""Seeded train/val/test splits of molecules: random, Bemis–Murcko scaffold or class-stratified."""

import math

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from sklearn.model_selection import train_test_split

from dlbio.errors import InputError

SPLITS = ("train", "val", "test")
SPLIT_METHODS = ("random", "scaffold", "stratified")


def scaffold(smiles):
    """Bemis–Murcko scaffold SMILES (without chirality; '' for acyclic molecules)."""
    mol = Chem.MolFromSmiles(smiles)
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def _check_fractions(n, val, test):
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise InputError(f"split.val = {val} and split.test = {test} must be > 0 with val + test < 1")
    if n < 3:
        raise InputError(f"{n} molecules cannot fill train, val and test splits")


def _scaffold_split(smiles, val, test, seed):
    groups = {}
    for i, s in enumerate(smiles):
        groups.setdefault(scaffold(s), []).append(i)
    n = len(smiles)
    val_size, test_size = val * n, test * n
    train_size = n - val_size - test_size
    sets = list(groups.values())
    big = [s for s in sets if len(s) > val_size / 2 or len(s) > test_size / 2]
    small = [s for s in sets if not (len(s) > val_size / 2 or len(s) > test_size / 2)]
    rng = np.random.default_rng(seed)
    order = [big[i] for i in rng.permutation(len(big))] + [small[i] for i in rng.permutation(len(small))]
    split = np.empty(n, dtype=object)
    counts = {"train": 0, "val": 0}
    for members in order:
        if counts["train"] + len(members) <= train_size:
            name = "train"
        elif counts["val"] + len(members) <= val_size:
            name = "val"
        else:
            name = "test"
        counts[name] = counts.get(name, 0) + len(members)
        split[members] = name
    return split


def split_molecules(smiles, labels, method, val, test, seed):
    """Seeded ``train``/``val``/``test`` name per molecule.

    ``random``: scikit-learn ``train_test_split`` twice; ``scaffold``: Bemis–Murcko scaffold sets
    never shared between splits, balanced as in chemprop (sets larger than half the val or test
    size go to train first, then the rest in seeded random order, greedily); ``stratified``:
    like random but keeping class proportions (single-task classification; ``labels`` (M,) or (M, 1)).
    """
    smiles = list(smiles)
    n = len(smiles)
    _check_fractions(n, val, test)
    idx = np.arange(n)
    n_test, n_val = max(1, round(test * n)), max(1, round(val * n))  # integer sizes: no rounding drift
    if n_test + n_val >= n:
        raise InputError(f"split 'train' would be empty with {n} molecules, val = {val} and test = {test}")
    if method == "random":
        rest, test_idx = train_test_split(idx, test_size=n_test, random_state=seed)
        train_idx, val_idx = train_test_split(rest, test_size=n_val, random_state=seed)
    elif method == "stratified":
        labels = np.asarray(labels, dtype=float)
        if labels.ndim == 2:
            if labels.shape[1] != 1:
                raise InputError(f"split method 'stratified' needs a single target; there are {labels.shape[1]}")
            labels = labels[:, 0]
        if np.isnan(labels).any() or not np.isin(labels, (0.0, 1.0)).all():
            raise InputError("split method 'stratified' needs 0/1 class labels (a classification task)")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise InputError(f"split method 'stratified' needs both classes; all {n} molecules are {classes[0]:g}")
        need = max(3, math.ceil(1 / val), math.ceil(1 / test))
        if (counts < need).any():
            listed = ", ".join(f"{c:g}: {k}" for c, k in zip(classes, counts))
            raise InputError(f"split method 'stratified' needs {need} molecules per class; have {listed}")
        rest, test_idx = train_test_split(idx, test_size=n_test, stratify=labels, random_state=seed)
        train_idx, val_idx = train_test_split(rest, test_size=n_val, stratify=labels[rest], random_state=seed)
    elif method == "scaffold":
        split = _scaffold_split(smiles, val, test, seed)
        for name in SPLITS:
            if not (split == name).any():
                raise InputError(
                    f"scaffold split left '{name}' empty ({n} molecules, {len(set(map(scaffold, smiles)))} scaffolds); "
                    "use more molecules, other split fractions or split.method 'random'"
                )
        return split
    else:
        raise InputError(f"split method '{method}' is not one of {', '.join(SPLIT_METHODS)}")
    split = np.empty(n, dtype=object)
    split[train_idx], split[val_idx], split[test_idx] = "train", "val", "test"
    for name in SPLITS:
        if not (split == name).any():
            raise InputError(f"split '{name}' would be empty with {n} molecules")
    return split
