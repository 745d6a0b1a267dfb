"""A molecule library's columns (``molecules.<dataset>.predict``), checked when the workflow is parsed.

Standard library only: the Snakefile imports this module, so a library lacking its SMILES column fails before any
training job, naming the file, the config key and the columns the file has. The predicting job resolves the id
column with the same function (:func:`choose_id_column`), so the check and the job never disagree.
"""

import csv
import logging
import re
from pathlib import Path

from dlbio.errors import InputError, require_file

BUILTIN_PREFIX = "rdkit:"
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
SDF_SUFFIXES = (".sdf", ".sd", ".mol")
PLURALS = {"column": "columns", "property": "properties"}
log = logging.getLogger(__name__)


def library_spec(item, entry):
    """A ``predict`` item (a path, ``rdkit:<name>`` or ``{source, smiles_column, id_column}``) with its columns.

    Returns ``{source, smiles_column, id_column, id_required}``: a column the item does not give is the training
    ``entry``'s; ``id_required`` is whether the item names its own ``id_column`` (then a library without that
    column is an error; an id column taken from the training entry falls back to row numbers instead).
    """
    given = {"source": item} if isinstance(item, str) else dict(item)
    return {
        "source": given["source"],
        "smiles_column": given.get("smiles_column", entry["smiles_column"]),
        "id_column": given.get("id_column", entry["id_column"]),
        "id_required": "id_column" in given,
    }


def file_kind(source, key):
    """``"sdf"`` or the separator of a CSV/TSV library; an unknown suffix is an error naming ``key``."""
    suffix = Path(source).suffix.lower()
    if suffix in SDF_SUFFIXES:
        return "sdf"
    if suffix in SEPARATORS:
        return SEPARATORS[suffix]
    raise InputError(
        f"'{source}' (config key '{key}'): unknown file type '{suffix}'; "
        f"expected one of {', '.join(list(SEPARATORS) + list(SDF_SUFFIXES))}"
    )


def choose_id_column(columns, smiles_column, id_column, id_required, source, key, what="column"):
    """The id column to read from a library with ``columns`` (None: row numbers), after checking the SMILES column.

    ``smiles_column`` None: not checked (an SDF file's molecules are its records). A missing SMILES column, or a
    missing ``id_column`` the predict item named itself (``id_required``), is an error naming the file, ``key``
    and ``columns``; a missing id column taken from the training entry gives row numbers, said in the log.
    ``what``: what ``columns`` are (``"column"``, or ``"property"`` for SDF records).
    """
    found, whats = ", ".join(columns) or "none", PLURALS[what]
    if smiles_column is not None and smiles_column not in columns:
        raise InputError(
            f"'{source}' (config key '{key}'): SMILES column '{smiles_column}' not found; available columns: "
            f"{found}. Name the library's SMILES column with smiles_column in its predict item, e.g. "
            f"{{source: {source}, smiles_column: <column>}}"
        )
    if not id_column or id_column in columns:
        return id_column or None
    if id_required:
        raise InputError(
            f"'{source}' (config key '{key}'): id {what} '{id_column}' not found; available {whats}: {found}"
        )
    ids = "row numbers from 0" if what == "column" else "the records' titles (their index where a title is empty)"
    log.info(
        "'%s' has no id %s '%s' (the training entry's id_column): ids are %s; set id_column in the predict item "
        "to name one of its %s (%s)",
        source,
        what,
        id_column,
        ids,
        whats,
        found,
    )
    return None


def table_header(source, separator, key):
    """The column names of a CSV/TSV file's first line."""
    try:
        with open(source, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle, delimiter=separator), None)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"'{source}' (config key '{key}') is not a readable table: {err}") from None
    if not header:
        raise InputError(f"'{source}' (config key '{key}') is empty")
    return [column.strip() for column in header]


def sdf_properties(source, records):
    """The data item names (``>  <name>``) of the first ``records`` records of an SDF file, in order of first use."""
    names, tag = {}, re.compile(r"^>.*?<([^>]+)>")
    with open(source, errors="replace") as handle:
        for line in handle:
            if line.startswith("$$$$"):
                records -= 1
                if records <= 0:
                    break
            elif match := tag.match(line):
                names.setdefault(match.group(1), None)
    return list(names)


def check_library(spec, key, records=10_000):
    """Fail naming the file and ``key`` unless the library of ``spec`` (:func:`library_spec`) can be read.

    A CSV/TSV needs its SMILES column and the id column its predict item names; an SDF file the id property its
    item names among its first ``records`` records (the predicting job reads them first). A built-in
    ``rdkit:<name>`` library is checked by the job. Returns the id column the job will read (None: row numbers).
    """
    source = spec["source"]
    if source.startswith(BUILTIN_PREFIX):
        return spec["id_column"]
    require_file(source, key)
    kind = file_kind(source, key)
    if kind == "sdf":
        if not spec["id_required"] or not spec["id_column"]:
            return spec["id_column"]
        columns, smiles, what = sdf_properties(source, records), None, "property"
    else:
        columns, smiles, what = table_header(source, kind, key), spec["smiles_column"], "column"
    return choose_id_column(columns, smiles, spec["id_column"], spec["id_required"], source, key, what)
