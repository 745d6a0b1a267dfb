"""RDKit parsing, sanitising and standardising; labels, duplicates and the bookkeeping of rejected rows.

Duplicates (same canonical SMILES after standardisation) with ``duplicates: mean``: regression
targets are averaged over the copies' non-missing values; classification targets take the
majority vote, and a tie is a conflict that makes that target missing. The first copy is kept
(its id names the molecule) and the others are rejected as ``duplicate of <id>``; if every
target of the group ends up missing through conflicts, every copy is rejected as
``conflicting duplicate labels``. ``duplicates: first`` keeps the first copy's labels as they are.
"""

import logging
import re

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from dlbio.errors import InputError

TASKS = ("regression", "classification")
DUPLICATE_RULES = ("mean", "first")
log = logging.getLogger(__name__)


def _rdkit_message(text):
    lines = [re.sub(r"^\[[0-9:.]+\]\s*", "", line).strip() for line in text.splitlines()]
    return "; ".join(dict.fromkeys(line for line in lines if line)) or "RDKit could not parse it"


def parse_smiles(smiles):
    """``(mol, None)`` for a valid SMILES or ``(None, reason)`` with RDKit's own message."""
    if not smiles or not smiles.strip():
        return None, "empty SMILES"
    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None, f"invalid SMILES: {_rdkit_message(capture.messages) if mol is None else 'no atoms'}"
    return mol, None


class Standardizer:
    """RDKit's rdMolStandardize steps named in the config's ``standardize`` dict, in order."""

    def __init__(self, standardize):
        unknown = set(standardize) - {"largest_fragment", "uncharge", "tautomer"}
        if unknown:
            raise InputError(
                f"standardize: unknown options {sorted(unknown)}; use largest_fragment, uncharge, tautomer"
            )
        self.steps = []
        if standardize["largest_fragment"]:
            self.steps.append(rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose)
        if standardize["uncharge"]:
            self.steps.append(rdMolStandardize.Uncharger().uncharge)
        if standardize["tautomer"]:
            self.steps.append(rdMolStandardize.TautomerEnumerator().Canonicalize)

    def __call__(self, mol):
        with rdBase.BlockLogs():
            for step in self.steps:
                mol = step(mol)
        return mol


def _binarize(table, targets, task, threshold):
    table = table.copy()
    if task not in TASKS:
        raise InputError(f"task '{task}' is not one of {', '.join(TASKS)}")
    if task == "classification":
        for t in targets:
            values = table[t].to_numpy()
            if threshold is not None:
                table[t] = np.where(np.isnan(values), np.nan, (values >= threshold).astype(float))
            else:
                bad = ~np.isnan(values) & ~np.isin(values, (0.0, 1.0))
                if bad.any():
                    raise InputError(
                        f"classification target '{t}' must be 0/1 (or set a threshold); "
                        f"{int(bad.sum())} values are not, e.g. {values[bad][0]:g}"
                    )
    return table


def _merge_duplicates(group, targets, task):
    """Merged target values of a duplicate group (NaN where missing or conflicting)."""
    merged = {}
    for t in targets:
        values = group[t].dropna().to_numpy()
        if len(values) == 0:
            merged[t] = np.nan
        elif task == "regression":
            merged[t] = float(values.mean())
        else:
            ones = int((values == 1).sum())
            zeros = len(values) - ones
            merged[t] = np.nan if ones == zeros else float(ones > zeros)
    return merged


def prepare_molecules(table, task, targets, standardize, duplicates, threshold):
    """Parse, standardise, label and de-duplicate a table from :func:`read_molecule_table`.

    Returns ``(kept, rejected)``: ``kept`` is the table (original row order, index reset) with
    column ``smiles`` (RDKit canonical SMILES after standardisation) and merged targets;
    ``rejected`` has columns ``id``, ``input_smiles``, ``reason``. Nothing is raised for
    rejections — call :func:`check_rejections` after writing ``rejected`` out.
    """
    targets = list(targets)
    if duplicates not in DUPLICATE_RULES:
        raise InputError(f"duplicates '{duplicates}' is not one of {', '.join(DUPLICATE_RULES)}")
    table = _binarize(table.reset_index(drop=True), targets, task, threshold)
    standardizer = Standardizer(standardize)
    canonical, reasons = [], []
    for smiles in table["input_smiles"]:
        mol, reason = parse_smiles(smiles)
        if mol is not None:
            try:
                mol = standardizer(mol)
                canonical.append(Chem.MolToSmiles(mol))
            except Exception as err:  # noqa: BLE001 - RDKit raises many types; the row is rejected
                canonical.append("")
                reason = f"standardisation failed: {err}"
        else:
            canonical.append("")
        reasons.append(reason)
    table["smiles"] = canonical
    reasons = pd.Series(reasons, index=table.index, dtype=object)
    no_target = reasons.isna() & table[targets].isna().all(axis=1)
    reasons[no_target] = "no target value"

    valid = table[reasons.isna()]
    for _, group in valid.groupby("smiles", sort=False):
        if len(group) == 1:
            continue
        first = group.index[0]
        if duplicates == "mean":
            merged = _merge_duplicates(group, targets, task)
            if all(np.isnan(v) for v in merged.values()):
                reasons[group.index] = "conflicting duplicate labels"
                continue
            for t, v in merged.items():
                table.loc[first, t] = v
        reasons[group.index[1:]] = f"duplicate of {table.at[first, 'id']}"

    bad = reasons.notna()
    rejected = table.loc[bad, ["id", "input_smiles"]].assign(reason=reasons[bad].to_numpy())
    kept = table[~bad].reset_index(drop=True)
    log.info("molecules: %d rows -> %d kept, %d rejected", len(table), len(kept), len(rejected))
    return kept, rejected.reset_index(drop=True)


def rejection_counts(rejected):
    """Rejections per kind of reason (``invalid SMILES``, ``duplicate``, ...), most frequent first."""
    kinds = rejected["reason"].astype(str).str.replace(r"^duplicate of .*", "duplicate", regex=True)
    kinds = kinds.str.split(":").str[0]
    return kinds.value_counts()


class RejectedRowsError(InputError):
    """Too many (or all) rows were rejected; ``rejected`` holds them so the caller can write them out."""

    def __init__(self, message, rejected):
        super().__init__(message)
        self.rejected = rejected


def check_rejections(n_input, rejected, max_fraction):
    """Raise :class:`RejectedRowsError` if every row or more than ``max_fraction`` of them was rejected."""
    n = len(rejected)
    counts = ", ".join(f"{kind}: {c}" for kind, c in rejection_counts(rejected).items())
    if n >= n_input:
        raise RejectedRowsError(f"all {n_input} rows invalid ({counts})", rejected)
    if max_fraction is not None and n > max_fraction * n_input:
        raise RejectedRowsError(
            f"{n} of {n_input} rows rejected ({n / n_input:.1%} > max_rejected_fraction = {max_fraction}): {counts}; "
            "see rejected.tsv for each row's reason",
            rejected,
        )
