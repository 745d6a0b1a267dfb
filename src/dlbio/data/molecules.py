"""Molecules: SMILES/SDF table → RDKit sanitise/standardise/de-duplicate → graph tensors, splits.

All chemistry is RDKit's: parsing and sanitisation (``Chem.MolFromSmiles``), standardisation
(``rdMolStandardize``), canonical SMILES (``Chem.MolToSmiles``), Bemis–Murcko scaffolds.

Atom features (``ATOM_FEATURES`` = 50 columns of ``x``, one-hot blocks with an "other" slot):

=================  ====  ====================================================================
block              size  values
=================  ====  ====================================================================
element              14  H, C, N, O, F, P, S, Cl, Br, I, B, Si, Se, other
degree                7  0, 1, 2, 3, 4, 5, other (heavy-atom neighbours, ``GetDegree``)
formal charge         6  -2, -1, 0, +1, +2, other
hybridisation         6  SP, SP2, SP3, SP3D, SP3D2, other
aromatic              1  ``GetIsAromatic``
total H               5  0, 1, 2, 3, 4 or more (``GetTotalNumHs``)
chirality tag         4  unspecified, CW, CCW, other
in ring               1  ``IsInRing``
ring size             6  member of a ring of size 3, 4, 5, 6, 7, 8 (``IsInRingSize``; several can be 1)
=================  ====  ====================================================================

Bond features (``BOND_FEATURES`` = 12 columns of ``edge_attr``):

=================  ====  ====================================================================
bond type             4  single, double, triple, aromatic (other types, e.g. dative: all 0)
conjugated            1  ``GetIsConjugated``
in ring               1  ``IsInRing``
stereo                6  none, any, Z, E, cis, trans
=================  ====  ====================================================================

Tensor store written for a dataset (:func:`featurize_many`, :func:`prepare_molecule_dataset`),
M molecules, N atoms and E directed edges in total:

- ``x`` float32 (N, ATOM_FEATURES), atoms of molecule i in rows ``atom_ptr[i]:atom_ptr[i+1]``
- ``edge_index`` int64 (2, E): every bond in both directions, GLOBAL atom indices (rows of
  ``x``), so the store is one disconnected graph like a PyG ``Batch``; edges of molecule i are
  columns ``edge_ptr[i]:edge_ptr[i+1]``; subtract ``atom_ptr[i]`` for local indices
- ``edge_attr`` float32 (E, BOND_FEATURES)
- ``atom_ptr``, ``edge_ptr`` int64 (M+1)
- ``y`` float32 (M, T) targets, NaN = missing label (from :func:`prepare_molecule_dataset`)

Duplicates (same canonical SMILES after standardisation) with ``duplicates: mean``: regression
targets are averaged over the copies' non-missing values; classification targets take the
majority vote, and a tie is a conflict that makes that target missing. The first copy is kept
(its id names the molecule) and the others are rejected as ``duplicate of <id>``; if every
target of the group ends up missing through conflicts, every copy is rejected as
``conflicting duplicate labels``. ``duplicates: first`` keeps the first copy's labels as they are.
"""

import logging
import math
import multiprocessing
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rdkit import Chem, RDConfig, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.Scaffolds import MurckoScaffold
from sklearn.model_selection import train_test_split
from torch_geometric.data import Data

from dlbio.errors import InputError, require_file
from dlbio.io import load_tensors

BUILTIN_PREFIX = "rdkit:"
CHEMBL_DIR = os.path.join(RDConfig.RDContribDir, "FreeWilson", "data")
BUILTINS = {"CHEMBL2321810": ("CHEMBL2321810.smi", "CHEMBL2321810_act.csv")}
SPLITS = ("train", "val", "test")
TASKS = ("regression", "classification")
DUPLICATE_RULES = ("mean", "first")
SPLIT_METHODS = ("random", "scaffold", "stratified")
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
SDF_SUFFIXES = (".sdf", ".sd", ".mol")
NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "-"]
POOL_MIN = 2000  # fewer molecules than this are featurised in-process (pool start-up costs more)
log = logging.getLogger(__name__)

ELEMENTS = ["H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se"]
HYBRIDISATIONS = [
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
]
CHIRALITY = [Chem.ChiralType.CHI_UNSPECIFIED, Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW]
RING_SIZES = [3, 4, 5, 6, 7, 8]
BOND_TYPES = [Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE, Chem.BondType.AROMATIC]
STEREO = [
    Chem.BondStereo.STEREONONE,
    Chem.BondStereo.STEREOANY,
    Chem.BondStereo.STEREOZ,
    Chem.BondStereo.STEREOE,
    Chem.BondStereo.STEREOCIS,
    Chem.BondStereo.STEREOTRANS,
]

# column offsets of each atom block
_ELEM = {s: i for i, s in enumerate(ELEMENTS)}
_DEG0 = len(ELEMENTS) + 1  # 14
_CHG0 = _DEG0 + 7  # 21
_HYB0 = _CHG0 + 6  # 27
_HYB = {h: i for i, h in enumerate(HYBRIDISATIONS)}
_ARO = _HYB0 + 6  # 33
_HS0 = _ARO + 1  # 34
_CHI0 = _HS0 + 5  # 39
_CHI = {c: i for i, c in enumerate(CHIRALITY)}
_RING = _CHI0 + 4  # 43
_RSZ0 = _RING + 1  # 44
ATOM_FEATURES = _RSZ0 + len(RING_SIZES)  # 50
_BTYPE = {b: i for i, b in enumerate(BOND_TYPES)}
_STEREO = {s: i for i, s in enumerate(STEREO)}
BOND_FEATURES = len(BOND_TYPES) + 2 + len(STEREO)  # 12


# ---------------------------------------------------------------- reading


def _numeric_targets(frame, targets, where):
    """Targets as float columns; a value that is neither a number nor empty is an error."""
    out = {}
    for t in targets:
        raw = frame[t]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            example = raw[bad].iloc[0]
            raise InputError(
                f"{where}: target column '{t}' holds {int(bad.sum())} non-numeric values, e.g. '{example}' "
                "(leave a cell empty for a missing label)"
            )
        out[t] = values.astype(float).to_numpy()
    return out


def _read_builtin(name, key):
    if name not in BUILTINS:
        raise InputError(f"config key '{key}': unknown built-in dataset '{name}'; choose from {sorted(BUILTINS)}")
    smi_file, act_file = (os.path.join(CHEMBL_DIR, f) for f in BUILTINS[name])
    for path in (smi_file, act_file):
        require_file(path, key)
    smi = pd.read_csv(smi_file, sep=" ", header=None, names=["SMILES", "Name"], dtype=str)
    act = pd.read_csv(act_file, dtype={"Name": str})
    frame = smi.merge(act, on="Name", how="inner", validate="one_to_one")
    return frame, "SMILES", "Name", f"built-in '{BUILTIN_PREFIX}{name}'"


def _read_delimited(source, targets, key):
    sep = SEPARATORS[Path(source).suffix.lower()]
    na = {t: NA_VALUES for t in targets}
    try:
        frame = pd.read_csv(source, sep=sep, dtype=str, keep_default_na=False, na_values=na)
    except pd.errors.EmptyDataError:
        raise InputError(f"'{source}' (config key '{key}') is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"'{source}' (config key '{key}') is not a readable table: {err}") from None
    return frame


def _sdf_record(supplier, i):
    """(molecule, canonical-or-raw SMILES) of record i; an unsanitisable one gives its raw SMILES."""
    mol = supplier[i]
    if mol is not None:
        return mol, Chem.MolToSmiles(mol)
    try:
        with rdBase.BlockLogs():
            raw = Chem.MolFromMolBlock(supplier.GetItemText(i), sanitize=False)
            raw.UpdatePropertyCache(strict=False)
            return raw, Chem.MolToSmiles(raw)  # fails sanitisation again later, with its reason
    except Exception:  # noqa: BLE001 - anything RDKit cannot read becomes an empty SMILES
        return None, ""


def _read_sdf(source, targets, id_column, key):
    with rdBase.BlockLogs():
        try:
            supplier = Chem.SDMolSupplier(str(source))
            n = len(supplier) if Path(source).stat().st_size else 0
        except (OSError, RuntimeError) as err:
            if not Path(source).stat().st_size:
                raise InputError(f"'{source}' (config key '{key}') is empty: no SDF records") from None
            raise InputError(f"'{source}' (config key '{key}') is not a readable SDF file: {err}") from None
        if n == 0:
            raise InputError(f"'{source}' (config key '{key}') is empty: no SDF records")
        rows, seen = [], set()
        for i in range(n):
            mol, smiles = _sdf_record(supplier, i)
            props = mol.GetPropsAsDict(includePrivate=True) if mol is not None else {}
            seen.update(p for p in props if not p.startswith("_"))
            name = props.get("_Name", "")
            row = {"SMILES": smiles, "_record": str(i), "_Name": str(name).strip() or str(i)}
            for column in set(targets) | ({id_column} if id_column else set()):
                value = props.get(column)
                row[column] = None if value is None else str(value)
            rows.append(row)
    frame = pd.DataFrame(rows)
    for column in list(targets) + ([id_column] if id_column else []):
        if column not in seen:
            raise InputError(
                f"'{source}' (config key '{key}'): no SDF record has the property '{column}'; "
                f"properties found: {', '.join(sorted(seen)) or 'none'}"
            )
    return frame, "SMILES", id_column or "_Name"


def read_molecule_table(source, smiles_column, targets, id_column=None, key="source"):
    """Read ``source`` into a table with columns ``id``, ``input_smiles`` and one float per target.

    ``source`` is a .csv/.tsv/.txt table (comma, tab, tab), an .sdf file (SMILES written by
    RDKit from each record, targets and ``id_column`` from SD properties, id otherwise the
    record's title or index) or ``rdkit:CHEMBL2321810`` (1,017 molecules shipped with RDKit,
    target ``Act``, id ``Name``). Empty target cells are NaN (missing label). Without
    ``id_column`` a table row is named by its 0-based row number. ``key`` is the config key
    that named ``source``, used in error messages.
    """
    source = str(source)
    targets = list(targets)
    if not targets:
        raise InputError(f"config key '{key}': no targets named")
    if source.startswith(BUILTIN_PREFIX):
        frame, smiles_column, default_id, where = _read_builtin(source[len(BUILTIN_PREFIX) :], key)
        id_column = id_column or default_id
    else:
        require_file(source, key)
        where = f"'{source}'"
        suffix = Path(source).suffix.lower()
        if suffix in SDF_SUFFIXES:
            frame, smiles_column, id_column = _read_sdf(source, targets, id_column, key)
        elif suffix in SEPARATORS:
            frame = _read_delimited(source, targets, key)
        else:
            raise InputError(
                f"'{source}' (config key '{key}'): unknown file type '{suffix}'; "
                f"expected one of {', '.join(list(SEPARATORS) + list(SDF_SUFFIXES))}"
            )
    columns = [c for c in frame.columns if not str(c).startswith("_")]
    wanted = [("SMILES", smiles_column), *(("target", t) for t in targets)]
    if id_column:
        wanted.append(("id", id_column))
    for kind, column in wanted:
        if column not in frame.columns:
            raise InputError(
                f"{where}: {kind} column '{column}' not found; available columns: {', '.join(map(str, columns))}"
            )
    if len(frame) == 0:
        raise InputError(f"{where} (config key '{key}') has a header but no rows")
    ids = frame[id_column].fillna("").astype(str).str.strip() if id_column else pd.Series(range(len(frame)))
    table = pd.DataFrame(
        {
            "id": ids.astype(str).to_numpy(),
            "input_smiles": frame[smiles_column].fillna("").astype(str).str.strip().to_numpy(),
        }
    )
    for t, values in _numeric_targets(frame, targets, where).items():
        table[t] = values
    repeated = table["id"][table["id"].duplicated()]
    if len(repeated):
        log.warning("%s: %d ids occur more than once, e.g. '%s'", where, len(repeated), repeated.iloc[0])
    return table


# ---------------------------------------------------------------- parsing, standardising, de-duplicating


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


class _Standardizer:
    """RDKit's rdMolStandardize steps named in the config's ``standardize`` dict, in order."""

    def __init__(self, standardize):
        standardize = standardize or {}
        unknown = set(standardize) - {"largest_fragment", "uncharge", "tautomer"}
        if unknown:
            raise InputError(
                f"standardize: unknown options {sorted(unknown)}; use largest_fragment, uncharge, tautomer"
            )
        self.steps = []
        if standardize.get("largest_fragment"):
            self.steps.append(rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose)
        if standardize.get("uncharge"):
            self.steps.append(rdMolStandardize.Uncharger().uncharge)
        if standardize.get("tautomer"):
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


def prepare_molecules(table, task, targets, standardize, duplicates, max_rejected_fraction=None, threshold=None):
    """Parse, standardise, label and de-duplicate a table from :func:`read_molecule_table`.

    Returns ``(kept, rejected)``: ``kept`` is the table (original row order, index reset) with
    column ``smiles`` (RDKit canonical SMILES after standardisation) and merged targets;
    ``rejected`` has columns ``id``, ``input_smiles``, ``reason``. Nothing is raised for
    rejections — call :func:`check_rejections` after writing ``rejected`` out.
    ``max_rejected_fraction`` is accepted for call-site symmetry and not used here.
    """
    targets = list(targets)
    if duplicates not in DUPLICATE_RULES:
        raise InputError(f"duplicates '{duplicates}' is not one of {', '.join(DUPLICATE_RULES)}")
    table = _binarize(table.reset_index(drop=True), targets, task, threshold)
    standardizer = _Standardizer(standardize)
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


# ---------------------------------------------------------------- featurising


def _atom_columns(atom):
    cols = [_ELEM.get(atom.GetSymbol(), len(ELEMENTS))]
    cols.append(_DEG0 + min(atom.GetDegree(), 6))
    charge = atom.GetFormalCharge()
    cols.append(_CHG0 + (charge + 2 if -2 <= charge <= 2 else 5))
    cols.append(_HYB0 + _HYB.get(atom.GetHybridization(), 5))
    if atom.GetIsAromatic():
        cols.append(_ARO)
    cols.append(_HS0 + min(atom.GetTotalNumHs(), 4))
    cols.append(_CHI0 + _CHI.get(atom.GetChiralTag(), 3))
    if atom.IsInRing():
        cols.append(_RING)
        cols.extend(_RSZ0 + j for j, size in enumerate(RING_SIZES) if atom.IsInRingSize(size))
    return cols


def _bond_columns(bond):
    cols = []
    kind = _BTYPE.get(bond.GetBondType())
    if kind is not None:
        cols.append(kind)
    if bond.GetIsConjugated():
        cols.append(4)
    if bond.IsInRing():
        cols.append(5)
    cols.append(6 + _STEREO.get(bond.GetStereo(), 0))
    return cols


def featurize_mol(mol):
    """Graph arrays of an RDKit molecule (see the module docstring for the columns)."""
    rows, cols = [], []
    for atom in mol.GetAtoms():
        hot = _atom_columns(atom)
        rows.extend([atom.GetIdx()] * len(hot))
        cols.extend(hot)
    x = np.zeros((mol.GetNumAtoms(), ATOM_FEATURES), dtype=np.float32)
    x[rows, cols] = 1.0
    pairs, bond_rows, bond_cols = [], [], []
    for k, bond in enumerate(mol.GetBonds()):
        pairs.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        hot = _bond_columns(bond)
        bond_rows.extend([k] * len(hot))
        bond_cols.extend(hot)
    attr = np.zeros((len(pairs), BOND_FEATURES), dtype=np.float32)
    attr[bond_rows, bond_cols] = 1.0
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    # both directions of bond k are edges 2k (begin → end) and 2k+1 (end → begin)
    edge_index = np.stack([pairs, pairs[:, ::-1]], axis=1).reshape(-1, 2).T.copy()
    return {"x": x, "edge_index": edge_index, "edge_attr": np.repeat(attr, 2, axis=0)}


def featurize_smiles(smiles):
    """``{"x", "edge_index" (local, both directions), "edge_attr"}`` numpy arrays of one SMILES."""
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError(f"cannot featurise '{smiles}': {reason}")
    return featurize_mol(mol)


def _featurize_chunk(smiles_list):
    """Worker: concatenated numpy arrays (local edge indices) and per-molecule sizes of a chunk."""
    parts = [featurize_smiles(s) for s in smiles_list]
    return _concat(parts)


def _concat(parts):
    n_atoms = np.array([p["x"].shape[0] for p in parts], dtype=np.int64)
    n_edges = np.array([p["edge_index"].shape[1] for p in parts], dtype=np.int64)
    edge_index = [p["edge_index"] for p in parts]
    return {
        "x": np.concatenate([p["x"] for p in parts]) if parts else np.zeros((0, ATOM_FEATURES), np.float32),
        "edge_index": np.concatenate(edge_index, axis=1) if parts else np.zeros((2, 0), np.int64),
        "edge_attr": (
            np.concatenate([p["edge_attr"] for p in parts]) if parts else np.zeros((0, BOND_FEATURES), np.float32)
        ),
        "n_atoms": n_atoms,
        "n_edges": n_edges,
    }


def featurize_many(smiles_list, processes=None, pool_min=POOL_MIN):
    """Featurise many SMILES into one tensor store (see the module docstring).

    Inputs of ``pool_min`` or more molecules use a ``multiprocessing`` pool of ``processes``
    workers (default: all cores); workers return plain numpy arrays.
    """
    smiles_list = list(smiles_list)
    processes = processes or os.cpu_count() or 1
    n = len(smiles_list)
    if n < pool_min or processes == 1:
        chunks = [_featurize_chunk(smiles_list)]
    else:
        size = math.ceil(n / (processes * 4))
        pieces = [smiles_list[i : i + size] for i in range(0, n, size)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            chunks = pool.map(_featurize_chunk, pieces, chunksize=1)
    n_atoms = np.concatenate([c["n_atoms"] for c in chunks])
    n_edges = np.concatenate([c["n_edges"] for c in chunks])
    atom_ptr = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    edge_ptr = np.concatenate([[0], np.cumsum(n_edges)]).astype(np.int64)
    edge_index = np.concatenate([c["edge_index"] for c in chunks], axis=1)
    edge_index += np.repeat(atom_ptr[:-1], n_edges)[None, :]  # local → global atom indices
    return {
        "x": torch.from_numpy(np.concatenate([c["x"] for c in chunks])),
        "edge_index": torch.from_numpy(edge_index),
        "edge_attr": torch.from_numpy(np.concatenate([c["edge_attr"] for c in chunks])),
        "atom_ptr": torch.from_numpy(atom_ptr),
        "edge_ptr": torch.from_numpy(edge_ptr),
    }


def to_data_list(tensors, y=None):
    """One PyG ``Data(x, edge_index (local), edge_attr, y (1, T))`` per molecule of a tensor store."""
    y = tensors.get("y") if y is None else y
    atom_ptr, edge_ptr = tensors["atom_ptr"].tolist(), tensors["edge_ptr"].tolist()
    x, edge_index, edge_attr = tensors["x"], tensors["edge_index"], tensors["edge_attr"]
    y = None if y is None else torch.as_tensor(y, dtype=torch.float32)
    if y is not None and y.dim() == 1:
        y = y[:, None]
    data = []
    for i in range(len(atom_ptr) - 1):
        a0, a1, e0, e1 = atom_ptr[i], atom_ptr[i + 1], edge_ptr[i], edge_ptr[i + 1]
        item = Data(x=x[a0:a1], edge_index=edge_index[:, e0:e1] - a0, edge_attr=edge_attr[e0:e1])
        if y is not None:
            item.y = y[i : i + 1]
        data.append(item)
    return data


# ---------------------------------------------------------------- splitting


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


# ---------------------------------------------------------------- orchestration


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
            cfg["source"], cfg["smiles_column"], targets, cfg.get("id_column"), key=f"molecules.{name}.source"
        )
        where, key = f"'{cfg['source']}'", f"molecules.{name}.targets"
        _require_target_values(table, targets, where, key)
        kept, rejected = prepare_molecules(
            table,
            cfg["task"],
            targets,
            cfg.get("standardize"),
            cfg.get("duplicates", "mean"),
            threshold=cfg.get("threshold"),
        )
        check_rejections(len(table), rejected, cfg.get("max_rejected_fraction"))
        _require_target_variation(kept, targets, cfg["task"], cfg.get("threshold"), where, key)
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
