"""Train/val/test splits of molecules: seeded random, Bemis–Murcko scaffold or class-stratified, or
predefined (a column of the input naming each row's split)."""

import math

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from dlbio.errors import InputError

SPLITS = ("train", "val", "test")
DRAWN_SPLITS = ("random", "scaffold", "stratified")  # split_molecules draws these
SPLIT_METHODS = (*DRAWN_SPLITS, "column")  # column: predefined_split


def scaffold(smiles):
    """Bemis–Murcko scaffold SMILES (without chirality; '' for acyclic molecules)."""
    mol = Chem.MolFromSmiles(smiles)
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def _check_fractions(n, val, test):
    if test is None:  # the test molecules come from elsewhere (split.test_file)
        if not 0 < val < 1:
            raise InputError(f"split.val = {val} must be > 0 and < 1")
        if n < 2:
            raise InputError(f"{n} molecules cannot fill train and val splits")
        return
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise InputError(f"split.val = {val} and split.test = {test} must be > 0 with val + test < 1")
    if n < 3:
        raise InputError(f"{n} molecules cannot fill train, val and test splits")


def predefined_split(values, where, key):
    """Each row's split as named by an input column (``where`` describes it, ``key`` is its config key).

    Every value must be exactly ``train``, ``val`` or ``test``; anything else (other spellings,
    empty cells) is an error listing the offending values with their counts.
    """
    values = pd.Series(values, dtype=object).fillna("").astype(str)
    bad = ~values.isin(SPLITS)
    if bad.any():
        counts = values[bad].value_counts()
        listed = ", ".join(f"'{v}': {c}" if v else f"empty: {c}" for v, c in counts.items())
        raise InputError(
            f"config key '{key}': {where} must hold train, val or test in every row; "
            f"{int(bad.sum())} of {len(values)} rows do not ({listed})"
        )
    return values.to_numpy(dtype=object)


def _scaffold_split(smiles, val, test, seed):
    groups = {}
    for i, s in enumerate(smiles):
        groups.setdefault(scaffold(s), []).append(i)
    n = len(smiles)
    val_size, test_size = val * n, test * n
    train_size = n - val_size - test_size

    def is_big(members):
        return len(members) > val_size / 2 or (test_size > 0 and len(members) > test_size / 2)

    sets = list(groups.values())
    big = [s for s in sets if is_big(s)]
    small = [s for s in sets if not is_big(s)]
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
            name = "test" if test_size > 0 else "train"  # without a test split train takes the rest
        counts[name] = counts.get(name, 0) + len(members)
        split[members] = name
    return split


def split_molecules(smiles, labels, method, val, test, seed):
    """Seeded ``train``/``val``/``test`` name per molecule (only ``train``/``val`` when ``test`` is None:
    the test molecules come from a separate file).

    ``random``: scikit-learn ``train_test_split`` twice; ``scaffold``: Bemis–Murcko scaffold sets
    never shared between splits, balanced as in chemprop (sets larger than half the val or test
    size go to train first, then the rest in seeded random order, greedily); ``stratified``:
    like random but keeping class proportions (single-task classification; ``labels`` (M,) or (M, 1)).
    """
    smiles = list(smiles)
    n = len(smiles)
    _check_fractions(n, val, test)
    names = SPLITS if test is not None else SPLITS[:2]
    idx = np.arange(n)
    n_test = 0 if test is None else max(1, round(test * n))
    n_val = max(1, round(val * n))  # integer sizes: no rounding drift
    if n_test + n_val >= n:
        raise InputError(f"split 'train' would be empty with {n} molecules, val = {val} and test = {test}")

    def hold_out(rest, size, stratify=None):
        from sklearn.model_selection import train_test_split  # local: scikit-learn costs ~2 s to import

        if size == 0:
            return rest, rest[:0]
        return train_test_split(rest, test_size=size, stratify=stratify, random_state=seed)

    if method == "random":
        rest, test_idx = hold_out(idx, n_test)
        train_idx, val_idx = hold_out(rest, n_val)
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
        need = max(3, math.ceil(1 / val), math.ceil(1 / test) if test is not None else 0)
        if (counts < need).any():
            listed = ", ".join(f"{c:g}: {k}" for c, k in zip(classes, counts))
            raise InputError(f"split method 'stratified' needs {need} molecules per class; have {listed}")
        rest, test_idx = hold_out(idx, n_test, labels)
        train_idx, val_idx = hold_out(rest, n_val, labels[rest])
    elif method == "scaffold":
        split = _scaffold_split(smiles, val, test or 0, seed)
        for name in names:
            if not (split == name).any():
                raise InputError(
                    f"scaffold split left '{name}' empty ({n} molecules, {len(set(map(scaffold, smiles)))} scaffolds); "
                    "use more molecules, other split fractions or split.method 'random'"
                )
        return split
    else:
        raise InputError(f"split method '{method}' is not one of {', '.join(DRAWN_SPLITS)}")
    split = np.empty(n, dtype=object)
    split[train_idx], split[val_idx], split[test_idx] = "train", "val", "test"
    for name in names:
        if not (split == name).any():
            raise InputError(f"split '{name}' would be empty with {n} molecules")
    return split
