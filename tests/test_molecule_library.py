"""A predict library's columns: the item's own or the training entry's, checked from the file's header at parse time."""

import logging
import subprocess
import sys

import pytest

from dlbio.data.molecule_library import check_library, choose_id_column, library_spec
from dlbio.errors import InputError

ENTRY = {"smiles_column": "SMILES", "id_column": "compound"}
KEY = "molecules.lab.predict"


def test_an_item_takes_the_training_entrys_columns_unless_it_gives_its_own():
    assert library_spec("screen.csv", ENTRY) == {
        "source": "screen.csv", "smiles_column": "SMILES", "id_column": "compound", "id_required": False
    }  # fmt: skip
    own = library_spec({"source": "plain.tsv", "smiles_column": "structure", "id_column": "iupac"}, ENTRY)
    assert own == {"source": "plain.tsv", "smiles_column": "structure", "id_column": "iupac", "id_required": True}
    rows = library_spec({"source": "plain.tsv", "id_column": None}, ENTRY)
    assert rows["smiles_column"] == "SMILES" and rows["id_column"] is None and rows["id_required"]


def test_a_missing_smiles_column_names_the_file_the_key_and_its_columns(tmp_path):
    library = tmp_path / "plain.csv"
    library.write_text("structure,iupac\nCCO,ethanol\n")
    with pytest.raises(InputError) as error:
        check_library(library_spec(str(library), ENTRY), KEY)
    message = str(error.value)
    assert f"'{library}' (config key '{KEY}'): SMILES column 'SMILES' not found" in message
    assert "available columns: structure, iupac" in message and "smiles_column" in message


def test_an_inherited_id_column_falls_back_to_row_numbers_and_says_so(tmp_path, caplog):
    library = tmp_path / "plain.tsv"
    library.write_text("\ufeffstructure\tiupac\nCCO\tethanol\n")  # a byte-order mark is not part of the name
    spec = library_spec({"source": str(library), "smiles_column": "structure"}, ENTRY)
    with caplog.at_level(logging.INFO, logger="dlbio.data.molecule_library"):
        assert check_library(spec, KEY) is None
    assert "no id column 'compound'" in caplog.text and "ids are row numbers from 0" in caplog.text
    assert check_library(spec | {"id_column": "iupac"}, KEY) == "iupac"


def test_an_id_column_the_item_names_must_exist(tmp_path):
    library = tmp_path / "plain.csv"
    library.write_text("structure,iupac\nCCO,ethanol\n")
    spec = library_spec({"source": str(library), "smiles_column": "structure", "id_column": "name"}, ENTRY)
    with pytest.raises(InputError, match=r"plain.csv' .*: id column 'name' not found; available columns: structure"):
        check_library(spec, KEY)


def test_sdf_id_properties_are_read_from_the_records(tmp_path):
    library = tmp_path / "lib.sdf"
    record = "\n  RDKit          2D\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0 0.0 0.0 C   0  0\nM  END\n"
    library.write_text(f"a{record}>  <ID>  (1)\nmol-1\n\n$$$$\nb{record}$$$$\n")
    assert check_library(library_spec({"source": str(library), "id_column": "ID"}, ENTRY), KEY) == "ID"
    assert check_library(library_spec(str(library), ENTRY), KEY) == "compound"  # the job falls back: titles
    with pytest.raises(InputError, match="id property 'name' not found; available properties: ID"):
        check_library(library_spec({"source": str(library), "id_column": "name"}, ENTRY), KEY)


def test_files_and_built_ins(tmp_path):
    assert check_library(library_spec("rdkit:NCI_first_200", ENTRY), KEY) == "compound"  # checked by the job
    with pytest.raises(InputError, match="config key 'molecules.lab.predict': file '.*missing.csv' does not exist"):
        check_library(library_spec(str(tmp_path / "missing.csv"), ENTRY), KEY)
    (tmp_path / "x.smi").write_text("C\n")
    with pytest.raises(InputError, match="x.smi' .*unknown file type '.smi'"):
        check_library(library_spec(str(tmp_path / "x.smi"), ENTRY), KEY)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty.csv' .* is empty"):
        check_library(library_spec(str(tmp_path / "empty.csv"), ENTRY), KEY)


def test_choose_id_column_without_an_id():
    assert choose_id_column(["smiles"], "smiles", None, False, "f.csv", KEY) is None


def test_the_check_imports_neither_torch_nor_pandas_nor_rdkit():
    code = "import sys, dlbio.data.molecule_library; print(sorted({'torch', 'pandas', 'rdkit'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
