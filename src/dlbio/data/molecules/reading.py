"""Reading molecule tables: CSV/TSV/SDF files or RDKit's built-in ChEMBL set → id, input SMILES, float targets."""

import logging
import os
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDConfig, rdBase

from dlbio.data.molecule_library import BUILTIN_PREFIX, SDF_SUFFIXES, SEPARATORS
from dlbio.errors import InputError, require_file

CHEMBL_DIR = os.path.join(RDConfig.RDContribDir, "FreeWilson", "data")
BUILTINS = {"CHEMBL2321810": ("CHEMBL2321810.smi", "CHEMBL2321810_act.csv")}
# unlabelled libraries that ship with RDKit, for predicting: rdkit:<name> → the file
LIBRARIES = {"NCI_first_200": os.path.join(RDConfig.RDDataDir, "NCI", "first_200.props.sdf")}
NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "-"]
log = logging.getLogger(__name__)


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


def library_path(source, key="predict"):
    """The file of a library to predict: ``source`` itself, or RDKit's shipped file for ``rdkit:<name>``.

    ``rdkit:NCI_first_200``: 200 unlabelled NCI molecules (an SDF file, ids the record index). ``key`` names
    the config key in errors.
    """
    source = str(source)
    if not source.startswith(BUILTIN_PREFIX):
        return source
    name = source[len(BUILTIN_PREFIX) :]
    if name not in LIBRARIES:
        raise InputError(f"config key '{key}': unknown built-in library '{source}'; choose from {sorted(LIBRARIES)}")
    require_file(LIBRARIES[name], key)
    return LIBRARIES[name]


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


def sdf_record(supplier, i):
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


def _read_sdf(source, targets, id_column, key, split_column=None):
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
            mol, smiles = sdf_record(supplier, i)
            props = mol.GetPropsAsDict(includePrivate=True) if mol is not None else {}
            seen.update(p for p in props if not p.startswith("_"))
            name = props.get("_Name", "")
            row = {"SMILES": smiles, "_record": str(i), "_Name": str(name).strip() or str(i)}
            for column in set(targets) | {c for c in (id_column, split_column) if c}:
                value = props.get(column)
                row[column] = None if value is None else str(value)
            rows.append(row)
    frame = pd.DataFrame(rows)
    for column in list(targets) + [c for c in (id_column, split_column) if c]:
        if column not in seen:
            raise InputError(
                f"'{source}' (config key '{key}'): no SDF record has the property '{column}'; "
                f"properties found: {', '.join(sorted(seen)) or 'none'}"
            )
    return frame, "SMILES", id_column or "_Name"


def read_molecule_table(source, smiles_column, targets, id_column, key="source", split_column=None, split_key=None):
    """Read ``source`` into a table with columns ``id``, ``input_smiles`` and one float per target.

    ``source`` is a .csv/.tsv/.txt table (comma, tab, tab), an .sdf file (SMILES written by
    RDKit from each record, targets and ``id_column`` from SD properties, id otherwise the
    record's title or index) or ``rdkit:CHEMBL2321810`` (1,017 molecules shipped with RDKit,
    target ``Act``, id ``Name``). Empty target cells are NaN (missing label). Without
    ``id_column`` a table row is named by its 0-based row number. ``key`` is the config key
    that named ``source``, used in error messages. With ``split_column`` (named by the config key
    ``split_key``) the table also has a column ``split`` holding that column's values as text
    ('' where empty), unchecked.
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
            frame, smiles_column, id_column = _read_sdf(source, targets, id_column, key, split_column)
        elif suffix in SEPARATORS:
            frame = _read_delimited(source, targets, key)
        else:
            raise InputError(
                f"'{source}' (config key '{key}'): unknown file type '{suffix}'; "
                f"expected one of {', '.join(list(SEPARATORS) + list(SDF_SUFFIXES))}"
            )
    columns = [c for c in frame.columns if not str(c).startswith("_")]
    wanted = [(smiles_column, f"SMILES column '{smiles_column}'"), *((t, f"target column '{t}'") for t in targets)]
    if id_column:
        wanted.append((id_column, f"id column '{id_column}'"))
    if split_column:
        wanted.append((split_column, f"split column '{split_column}' (config key '{split_key}')"))
    for column, named in wanted:
        if column not in frame.columns:
            raise InputError(f"{where}: {named} not found; available columns: {', '.join(map(str, columns))}")
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
    if split_column:
        table["split"] = frame[split_column].fillna("").astype(str).str.strip().to_numpy()
    repeated = table["id"][table["id"].duplicated()]
    if len(repeated):
        log.warning("%s: %d ids occur more than once, e.g. '%s'", where, len(repeated), repeated.iloc[0])
    return table
