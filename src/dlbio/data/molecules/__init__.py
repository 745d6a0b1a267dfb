"""Molecules: SMILES/SDF table → RDKit sanitise/standardise/de-duplicate → graph tensors, splits.

All chemistry is RDKit's: parsing and sanitisation (``Chem.MolFromSmiles``), standardisation
(``rdMolStandardize``), canonical SMILES (``Chem.MolToSmiles``), Bemis–Murcko scaffolds.
The steps live in :mod:`.reading`, :mod:`.standardize` (also the duplicate rules),
:mod:`.featurize` (also the feature columns and the tensor store format) and :mod:`.split`;
this module runs them for a config entry and reads a prepared dataset back.
"""

import numpy as np
import pandas as pd
import torch

from dlbio.data.molecules.featurize import (
    ATOM_FEATURES,
    BOND_FEATURES,
    featurize_many,
    featurize_smiles,
    to_data_list,
)
from dlbio.data.molecules.reading import read_molecule_table
from dlbio.data.molecules.split import scaffold, split_molecules
from dlbio.data.molecules.standardize import RejectedRowsError, check_rejections, prepare_molecules
from dlbio.errors import InputError
from dlbio.io import load_tensors

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "RejectedRowsError",
    "check_rejections",
    "featurize_many",
    "featurize_smiles",
    "load_molecule_dataset",
    "prepare_molecule_dataset",
    "prepare_molecules",
    "read_molecule_table",
    "scaffold",
    "split_molecules",
    "to_data_list",
]


def _require_target_values(table, targets, where, key):
    """Fail on a target column that is missing in every row of ``table``."""
    for t in targets:
        if table[t].isna().all():
            raise InputError(f"config key '{key}': target '{t}' is missing in all {len(table)} rows of {where}")


def _require_target_variation(kept, targets, task, threshold, where, key):
    """Fail on a target with fewer than two distinct values (classes) over the kept molecules."""
    classes = task == "classification"
    advice = "a classifier needs both classes 0 and 1" if classes else "a constant target leaves nothing to learn"
    if classes and threshold is not None:
        advice += f" (threshold {threshold:g})"
    for t in targets:
        values = np.unique(kept[t].dropna())
        if len(values) < 2:
            found = f"only {'class' if classes else 'the value'} {values[0]:g}" if len(values) else "no values"
            raise InputError(
                f"config key '{key}': target '{t}' of {where} has {found} over the {len(kept)} kept molecules; {advice}"
            )


def prepare_molecule_dataset(name, cfg, processes=None):
    """Config entry ``molecules.<name>`` → (tensor store incl. ``y``, kept table incl. ``split``, rejected).

    Errors name the entry. When too many rows are rejected a :class:`RejectedRowsError` is raised
    whose ``rejected`` attribute holds the rejected table, so a script can write it and then fail.
    """
    try:
        targets = list(cfg["targets"])
        table = read_molecule_table(
            cfg["source"], cfg["smiles_column"], targets, cfg["id_column"], key=f"molecules.{name}.source"
        )
        where, key = f"'{cfg['source']}'", f"molecules.{name}.targets"
        _require_target_values(table, targets, where, key)
        kept, rejected = prepare_molecules(
            table, cfg["task"], targets, cfg["standardize"], cfg["duplicates"], cfg["threshold"]
        )
        check_rejections(len(table), rejected, cfg["max_rejected_fraction"])
        _require_target_variation(kept, targets, cfg["task"], cfg["threshold"], where, key)
        split_cfg = cfg["split"]
        if split_cfg["method"] == "stratified" and (cfg["task"] != "classification" or len(targets) != 1):
            raise InputError("split.method 'stratified' needs task 'classification' with a single target")
        labels = kept[targets].to_numpy()
        kept["split"] = split_molecules(
            kept["smiles"], labels, split_cfg["method"], split_cfg["val"], split_cfg["test"], cfg["seed"]
        )
        tensors = featurize_many(kept["smiles"], processes=processes)
        tensors["y"] = torch.from_numpy(labels.astype(np.float32))
        return tensors, kept, rejected
    except RejectedRowsError as err:
        raise RejectedRowsError(f"dataset molecules.{name}: {err}", err.rejected) from None
    except InputError as err:
        raise InputError(f"dataset molecules.{name}: {err}") from None


def load_molecule_dataset(graphs_path, table_path, targets):
    """Read a prepared dataset back: (PyG ``Data`` list, per-molecule table, targets ``y`` (M, T) float32)."""
    tensors = load_tensors(graphs_path)
    table = pd.read_csv(table_path, sep="\t", dtype={"id": str, "input_smiles": str, "smiles": str, "split": str})
    y = tensors["y"].numpy()
    if len(table) != y.shape[0] or y.shape[1] != len(targets):
        raise InputError(
            f"'{graphs_path}' holds {y.shape[0]} molecules x {y.shape[1]} targets but '{table_path}' has "
            f"{len(table)} rows and the config names {len(targets)} targets; re-run molecules_prepare"
        )
    return to_data_list(tensors), table, y
