"""The parse-time checks of a config (dlbio.config_checks): each names the key or the file, without Snakemake."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from dlbio.config_checks import (
    cells_queries,
    check_config,
    images_classify_sets,
    local_files,
    molecule_libraries,
    molecule_library,
    molecules_calibrated,
)
from dlbio.errors import InputError
from dlbio.workflow_internals import report_arguments

REPO = Path(__file__).resolve().parents[1]
MOLECULES = {"source": "rdkit:NCI_first_200", "targets": ["y"]}


def config(**sections):
    """A config of ``sections`` with the schema's defaults filled in, as the Snakefile validates it."""
    validate(sections, str(REPO / "config" / "schema.yaml"))
    return sections


def fails(cfg, message):
    with pytest.raises(InputError, match=message):
        check_config(cfg)


def test_the_demo_and_an_empty_config_pass(monkeypatch):
    monkeypatch.chdir(REPO)
    check_config(config(**yaml.safe_load((REPO / "config/config.yaml").read_text())))
    check_config(config())


def test_built_in_data_sets_are_no_files():
    assert local_files("scanpy:pbmc3k", "scanpy:") == []
    assert local_files("data/x.h5ad", "scanpy:") == ["data/x.h5ad"]


def test_a_missing_input_file_names_its_key(tmp_path):
    cells = {"x": {"h5ad": str(tmp_path / "no.h5ad"), "label_key": "t"}}
    fails(config(cells=cells), "'cells.x.h5ad': file '.*no.h5ad'")
    fails(config(images={"x": {"manifest": str(tmp_path / "m.tsv")}}), "'images.x.manifest': file")
    fails(config(images={"x": {"folder": str(tmp_path / "tiles")}}), "'images.x.folder': folder '.*tiles' does not")
    fails(config(molecules={"m": MOLECULES | {"source": str(tmp_path / "m.csv")}}), "'molecules.m.source': file")
    split = {"test_file": str(tmp_path / "test.csv")}
    fails(config(molecules={"m": MOLECULES | {"split": split}}), "'molecules.m.split.test_file': file '.*test.csv'")


def test_an_images_entry_gives_a_folder_or_a_manifest_not_both(tmp_path):
    (tmp_path / "tiles_train").mkdir()
    (tmp_path / "m.tsv").write_text("path\tlabel\n")
    check_config(config(images={"x": {"folder": str(tmp_path / "tiles")}}))  # the <folder>_train layout
    fails(
        config(images={"x": {"folder": str(tmp_path / "tiles"), "manifest": str(tmp_path / "m.tsv")}}),
        "images.x: set either 'folder' or 'manifest', not both",
    )


def test_runs_and_experiments_name_known_entries():
    fails(config(gan={"g": {"dataset": "lin"}}), "'gan.g.dataset': 'lin' is not an images entry; known: none")
    fails(
        config(augment_cells={"a": {"dataset": "pbmc", "rare_type": "B"}}),
        "'augment_cells.a.dataset': 'pbmc' is not a cells entry; known: none",
    )
    fails(config(images={"sim": {}}, augment_images={"a": {"gan_run": "g"}}), "'augment_images.a.gan_run': 'g' is not")
    gan = {"g": {"dataset": "sim", "arch": "dcgan"}}
    pooled = config(images={"sim": {}}, gan=gan, augment_images={"a": {"gan_run": "g"}})
    fails(pooled, "run 'g' has arch 'dcgan', whose generator pools its classes")


def test_a_motif_experiment_is_checked():
    modes = [{"motif": "0011", "fraction": 0.5}]
    fails(config(motifs={"m": {"modes": modes}}), "'motifs.m.modes': the fractions must sum to 1, they sum to 0.5")


def test_query_files_of_one_name_are_refused():
    entry = {"h5ad": "scanpy:pbmc3k", "label_key": "t", "query": {"h5ad": ["a/q.h5ad", "b/q.h5ad", "scanpy:x"]}}
    fails(config(cells={"c": entry}), "'cells.c.query.h5ad': two query files share a name")
    entry["query"]["h5ad"] = ["a/q.h5ad", "scanpy:pbmc3k_processed"]
    queries = cells_queries(config(cells={"c": entry}), "c")
    assert queries == {"q": "a/q.h5ad", "pbmc3k_processed": "scanpy:pbmc3k_processed"}


def test_a_classify_set_gives_exactly_one_source(tmp_path):
    sets = {"new": {"folder": str(tmp_path), "split": "test"}}
    fails(config(images={"x": {"classify": sets}}), "'images.x.classify.new': give exactly one .* given: folder, split")
    fails(config(images={"x": {"classify": {"new": {}}}}), "given: none")
    missing = {"new": {"folder": str(tmp_path / "no")}}
    fails(config(images={"x": {"classify": missing}}), "'images.x.classify.new.folder': folder '.*no' does not exist")
    assert list(images_classify_sets(config(images={"x": {"classify": {"new": {"split": "test"}}}}), "x")) == ["new"]


def test_molecule_libraries_are_named_checked_and_looked_up(tmp_path):
    screen, other = tmp_path / "screen.csv", tmp_path / "other" / "screen.csv"
    other.parent.mkdir()
    screen.write_text("smiles,name\nCCO,ethanol\n")
    other.write_text("structure\nCCO\n")
    cfg = config(molecules={"m": MOLECULES | {"predict": [str(screen), "rdkit:NCI_first_200"]}})
    check_config(cfg)
    assert list(molecule_libraries(cfg, "m")) == ["screen", "NCI_first_200"]
    assert molecule_library(cfg, "m", "screen")["source"] == str(screen)
    with pytest.raises(InputError, match="'nci' is not a library of config key 'molecules.m.predict'; known: screen"):
        molecule_library(cfg, "m", "nci")
    fails(
        config(molecules={"m": MOLECULES | {"predict": [str(screen), {"source": str(other), "smiles_column": "s"}]}}),
        "'molecules.m.predict': '.*screen.csv' and '.*screen.csv' are both named 'screen'",
    )
    fails(  # the header check: before any training, naming the file, the key and the columns
        config(molecules={"m": MOLECULES | {"predict": [str(other)]}}),
        r"screen.csv' \(config key 'molecules.m.predict'\): SMILES column 'smiles' not found; available columns: st",
    )


def test_interval_levels_default_by_task_and_are_checked():
    regression, classification = MOLECULES, MOLECULES | {"task": "classification"}
    cfg = config(molecules={"r": dict(regression), "c": dict(classification)})
    assert cfg["molecules"]["r"]["interval_level"] == 0.9 and cfg["molecules"]["c"]["interval_level"] is None
    assert molecules_calibrated(cfg, "r") and not molecules_calibrated(cfg, "c")
    assert not molecules_calibrated(config(molecules={"r": regression | {"interval_level": None}}), "r")
    fails(
        config(molecules={"c": classification | {"interval_level": 0.8}}),
        "'molecules.c.interval_level' = 0.8: intervals are for regression targets and this entry's task is class",
    )
    for level in (0, 1, 1.5):
        message = r"(?s)(less|greater) than or equal to the (min|max)imum.*\['r'\]\['interval_level'\]"
        with pytest.raises(Exception, match=message):
            config(molecules={"r": regression | {"interval_level": level}})


def test_set_levels_default_by_task_and_are_checked():
    regression, classification = MOLECULES, MOLECULES | {"task": "classification"}
    cfg = config(molecules={"r": dict(regression), "c": dict(classification)})
    assert cfg["molecules"]["c"]["set_level"] == 0.9 and cfg["molecules"]["r"]["set_level"] is None
    fails(
        config(molecules={"r": regression | {"set_level": 0.8}}),
        "'molecules.r.set_level' = 0.8: prediction sets are for classification and this entry's task is regression",
    )
    for level in (0, 1, 1.5):
        message = r"(?s)(less|greater) than or equal to the (min|max)imum.*\['c'\]\['set_level'\]"
        with pytest.raises(Exception, match=message):
            config(molecules={"c": classification | {"set_level": level}})
    with pytest.raises(Exception, match=r"(?s)less than or equal to the minimum.*\['lin'\]\['set_level'\]"):
        config(images={"lin": {"set_level": 0}})


def test_report_arguments_drop_the_report_option():
    assert report_arguments(["--cores", "2"]) is None
    assert report_arguments(["--report", "r.html", "--cores", "2"]) == ["--cores", "2"]
    assert report_arguments(["--report", "--cores", "2"]) == ["--cores", "2"]
    assert report_arguments(["--report=r.html"]) == []
    assert report_arguments(["--report", "--report-after-run"]) is None


def test_the_checks_import_no_heavy_library():
    code = "import sys, dlbio.config_checks\nprint([m for m in ('torch', 'scanpy', 'rdkit') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
