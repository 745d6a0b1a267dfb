"""Molecules: SMILES/SDF table → RDKit sanitise/standardise/de-duplicate → graph tensors, splits.

All chemistry is RDKit's: parsing and sanitisation (``Chem.MolFromSmiles``), standardisation
(``rdMolStandardize``), canonical SMILES (``Chem.MolToSmiles``), Bemis–Murcko scaffolds.
The steps live in :mod:`.reading`, :mod:`.standardize` (also the duplicate rules),
:mod:`.featurize` (also the feature columns and the tensor store format) and :mod:`.split`;
this module runs them for a config entry and reads a prepared dataset back as :class:`.graphs.MoleculeGraphs`
(batches gathered from the store's flat tensors).

Predefined splits (``split.method: column`` or ``split.test_file``) prepare each split's rows
separately, the most held-out first (test, val, train): duplicates are merged within a split, and
a molecule already kept in a more held-out split is rejected from the others (``duplicate of <id>
in split test`` / ``in test_file``), so no test molecule is ever also a training molecule.
"""

import logging

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
from dlbio.data.molecules.graphs import STORE_KEYS, MoleculeGraphs
from dlbio.data.molecules.reading import read_molecule_table
from dlbio.data.molecules.split import SPLITS, predefined_split, scaffold, split_molecules
from dlbio.data.molecules.standardize import RejectedRowsError, check_rejections, prepare_molecules
from dlbio.errors import InputError
from dlbio.io import load_tensors

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "MoleculeGraphs",
    "RejectedRowsError",
    "check_rejections",
    "featurize_many",
    "featurize_smiles",
    "load_molecule_dataset",
    "prepare_molecule_dataset",
    "prepare_molecules",
    "read_molecule_table",
    "replicate_split",
    "scaffold",
    "split_molecules",
    "to_data_list",
]
log = logging.getLogger(__name__)


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


def _require_training_labels(kept, targets, task, key):
    """Fail on a target left without training labels by the split (classification: without either class)."""
    splits = kept["split"].to_numpy()
    for t in targets:
        values = kept[t].to_numpy()
        labelled = {s: values[(splits == s) & ~np.isnan(values)] for s in SPLITS}
        if task == "classification":
            missing = [
                name for c, name in ((1, "positive (1)"), (0, "negative (0)")) if not (labelled["train"] == c).any()
            ]
            if missing:
                per_split = ", ".join(f"{s} {int((v == 1).sum())} of {len(v)}" for s, v in labelled.items())
                raise InputError(
                    f"config key '{key}': the split leaves target '{t}' without a {' or '.join(missing)} training "
                    f"label (positives of labels per split: {per_split}); a classifier needs both classes in training"
                )
        elif not len(labelled["train"]):
            per_split = ", ".join(f"{s} {len(v)}" for s, v in labelled.items())
            raise InputError(
                f"config key '{key}': the split leaves target '{t}' without training labels (labels per split: "
                f"{per_split})"
            )


def _require_splits(kept, key):
    """Fail on an empty train, val or test split (a predefined split after rejecting rows)."""
    counts = kept["split"].value_counts()
    for s in SPLITS:
        if not counts.get(s, 0):
            listed = ", ".join(f"{name} {counts.get(name, 0)}" for name in SPLITS)
            raise InputError(f"config key '{key}': split '{s}' holds no kept molecule (kept per split: {listed})")


def _prepare_parts(parts, cfg, targets):
    """Prepare ``parts``, pairs (table with a ``_row`` column, where), the most held-out first, one by one.

    A molecule kept by an earlier part is rejected from the later ones as ``duplicate of <id> <where>``.
    Returns ``[(kept, rejected)]`` per part, both with ``_row``.
    """
    seen, out = {}, []
    for part, where in parts:
        kept, rejected = prepare_molecules(
            part, cfg["task"], targets, cfg["standardize"], cfg["duplicates"], cfg["threshold"]
        )
        rows = part["_row"].to_numpy()
        rejected["_row"] = rows[~np.isin(rows, kept["_row"].to_numpy())]  # both keep the input's row order
        earlier = kept["smiles"].map(seen)
        held_out = earlier.notna().to_numpy()
        if held_out.any():
            moved = kept.loc[held_out, ["id", "input_smiles", "_row"]].assign(
                reason=[f"duplicate of {first} {place}" for first, place in earlier[held_out]]
            )
            rejected = pd.concat([rejected, moved], ignore_index=True)
            kept = kept[~held_out].reset_index(drop=True)
        for smiles, first in zip(kept["smiles"], kept["id"]):
            seen.setdefault(smiles, (first, where))
        out.append((kept, rejected))
    return out


def _in_row_order(frames):
    return pd.concat(frames, ignore_index=True).sort_values("_row", kind="stable").drop(columns="_row")


def prepare_molecule_dataset(name, cfg, processes=None):
    """Config entry ``molecules.<name>`` → (tensor store incl. ``y``, kept table incl. ``split``, rejected).

    Errors name the entry. When too many rows are rejected a :class:`RejectedRowsError` is raised
    whose ``rejected`` attribute holds the rejected table, so a script can write it and then fail.
    With ``split.test_file`` the rejected table has a column ``source`` (the file of each row) and
    ``max_rejected_fraction`` applies to each file.
    """
    try:
        targets = list(cfg["targets"])
        split_cfg = cfg["split"]
        method, column, test_file = split_cfg["method"], split_cfg.get("column"), split_cfg.get("test_file")
        split_key = f"molecules.{name}.split"
        if (method == "column") != bool(column):
            raise InputError(f"config key '{split_key}': set split.column exactly when split.method is 'column'")
        if method == "column" and test_file:
            raise InputError(f"config key '{split_key}': split.test_file cannot go with split.method 'column'")
        if method == "stratified" and (cfg["task"] != "classification" or len(targets) != 1):
            raise InputError("split.method 'stratified' needs task 'classification' with a single target")
        table = read_molecule_table(
            cfg["source"],
            cfg["smiles_column"],
            targets,
            cfg["id_column"],
            key=f"molecules.{name}.source",
            split_column=column,
            split_key=f"{split_key}.column",
        )
        where, key = f"'{cfg['source']}'", f"molecules.{name}.targets"
        _require_target_values(table, targets, where, key)
        table["_row"] = np.arange(len(table))
        if column:
            split_key += ".column"
            table["split"] = predefined_split(table["split"], f"split column '{column}' of {where}", split_key)
            parts = [(table[table["split"] == s], f"in split {s}") for s in ("test", "val", "train")]
        elif test_file:
            split_key += ".test_file"
            test = read_molecule_table(test_file, cfg["smiles_column"], targets, cfg["id_column"], key=split_key)
            _require_target_values(test, targets, f"'{test_file}'", key)
            test["_row"] = len(table) + np.arange(len(test))  # after the main file's rows
            test["split"] = "test"
            parts = [(test, "in test_file"), (table, "")]
        else:
            parts = [(table, "")]
        prepared = _prepare_parts(parts, cfg, targets)
        kept = _in_row_order([k for k, _ in prepared])
        if test_file:
            (_, rejected_test), (_, rejected_main) = prepared
            rejected = _in_row_order(
                [rejected_main.assign(source=str(cfg["source"])), rejected_test.assign(source=str(test_file))]
            )
            files = (
                (len(table), rejected_main, where),
                (len(test), rejected_test, f"'{test_file}' (config key '{split_key}')"),
            )
            for n_rows, file_rejected, file in files:
                try:  # each file on its own: a test set is never quietly thinned out
                    check_rejections(n_rows, file_rejected, cfg["max_rejected_fraction"])
                except RejectedRowsError as err:
                    raise RejectedRowsError(f"{file}: {err}", rejected) from None
        else:
            rejected = _in_row_order([r for _, r in prepared])
            check_rejections(len(table), rejected, cfg["max_rejected_fraction"])
        _require_target_variation(kept, targets, cfg["task"], cfg["threshold"], where, key)
        if not column:
            kept["split"] = draw_split(kept, kept[targets].to_numpy(), split_cfg, cfg["seed"])
        kept = kept[[c for c in kept.columns if c != "split"] + ["split"]]
        _require_splits(kept, split_key)
        _require_training_labels(kept, targets, cfg["task"], split_key)
        log.info("molecules.%s split: %s", name, kept["split"].value_counts().reindex(SPLITS).to_dict())
        labels = kept[targets].to_numpy()
        tensors = featurize_many(kept["smiles"], processes=processes)
        tensors["y"] = torch.from_numpy(labels.astype(np.float32))
        return tensors, kept, rejected
    except RejectedRowsError as err:
        raise RejectedRowsError(f"dataset molecules.{name}: {err}", err.rejected) from None
    except InputError as err:
        raise InputError(f"dataset molecules.{name}: {err}") from None


def draw_split(kept, labels, split_cfg, seed):
    """Each molecule's split drawn by ``split_cfg['method']`` with ``seed``; with a ``test_file`` only the main
    file's molecules are drawn (train/val) and the test file's (split ``test``) stay as they are."""
    test_file = split_cfg.get("test_file")
    draw = (kept["split"] != "test").to_numpy() if test_file else np.ones(len(kept), dtype=bool)
    split = kept["split"].to_numpy(dtype=object, copy=True) if test_file else np.empty(len(kept), dtype=object)
    test = None if test_file else split_cfg["test"]
    split[draw] = split_molecules(kept["smiles"][draw], labels[draw], split_cfg["method"], split_cfg["val"], test, seed)
    return split


def replicate_split(table, y, replicate, targets, task):
    """``table`` with the split of one replicate (``dlbio`` workflow params ``index``, ``seed``, ``split``): the
    prepared split, or with ``resplit`` (``split`` set) one drawn anew with the replicate's seed."""
    if replicate["split"] is None:
        return table
    if replicate["split"]["method"] == "column":
        raise InputError("config key 'resplit' needs a drawn split; split.method 'column' is fixed by the input")
    table = table.assign(split=draw_split(table, y, replicate["split"], replicate["seed"]))
    _require_splits(table, "resplit")
    _require_training_labels(table, targets, task, "resplit")
    log.info("replicate %d: split drawn with seed %d", replicate["index"], replicate["seed"])
    return table


def load_molecule_dataset(graphs_path, table_path, targets):
    """Read a prepared dataset back: (:class:`MoleculeGraphs`, per-molecule table, targets ``y`` (M, T) float32)."""
    tensors = load_tensors(graphs_path)
    missing = [k for k in (*STORE_KEYS, "y") if k not in tensors]
    if missing:
        raise InputError(
            f"'{graphs_path}' is not a molecule tensor store (it lacks {missing}); re-run molecules_prepare"
        )
    table = pd.read_csv(table_path, sep="\t", dtype={"id": str, "input_smiles": str, "smiles": str, "split": str})
    y = tensors["y"].numpy()
    if len(table) != y.shape[0] or y.shape[1] != len(targets):
        raise InputError(
            f"'{graphs_path}' holds {y.shape[0]} molecules x {y.shape[1]} targets but '{table_path}' has "
            f"{len(table)} rows and the config names {len(targets)} targets; re-run molecules_prepare"
        )
    return MoleculeGraphs(tensors), table, y
