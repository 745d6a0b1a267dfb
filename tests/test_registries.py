"""Every model family is registered once (dlbio.models.registry): the model modules' builders, the schema's
choices and the config docs agree with it, and the workflow reads it without importing torch."""

import subprocess
import sys

import pytest
import yaml

from dlbio.errors import InputError
from dlbio.models.registry import (
    CELL_BASELINE,
    CELL_GNN_OWN_SETTINGS,
    CELL_GNNS,
    GAN_ARCHS,
    MOLECULE_BASELINE,
    MOLECULE_MODELS,
    MOTIF_ARCHS,
    cell_gnn_settings,
)
from helpers import REPO

FAMILIES = [CELL_GNNS, MOLECULE_MODELS, GAN_ARCHS, MOTIF_ARCHS]
SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"]


def entry(section):
    return SCHEMA[section]["additionalProperties"]["properties"]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.family)
def test_every_name_has_its_builder_in_the_family_module(family):
    builders = [family[name] for name in family]
    assert tuple(family.builders) == family.names
    assert {builder.__module__ for builder in builders} == {family.module}


@pytest.mark.parametrize(
    "choices, names",
    [
        (entry("cells")["models"]["items"]["enum"], CELL_GNNS.names),
        (entry("molecules")["models"]["items"]["enum"], MOLECULE_MODELS.names),
        (entry("gan")["arch"]["enum"], GAN_ARCHS.names),
        (entry("motifs")["arch"]["enum"], MOTIF_ARCHS.names),
        (entry("augment_cells")["models"]["items"]["enum"], (CELL_BASELINE, *CELL_GNNS.names)),
    ],
    ids=["cells", "molecules", "gan", "motifs", "augment_cells"],
)
def test_schema_choices_are_the_registered_names(choices, names):
    assert tuple(choices) == names


def test_config_docs_explain_every_name():
    docs = (REPO / "config/README.md").read_text()
    names = [name for family in FAMILIES for name in family] + [CELL_BASELINE, MOLECULE_BASELINE]
    assert [name for name in names if f"`{name}`" not in docs] == []


def test_an_unknown_name_is_refused_naming_the_choices():
    with pytest.raises(InputError, match="unknown cell GNN 'gin'; choose from gcn, sage, gat"):
        CELL_GNNS["gin"]
    with pytest.raises(ValueError, match="'gin' is not a cell GNN"):
        CELL_GNNS.register("gin")


def test_what_the_rules_import_when_parsed_does_not_import_torch():
    modules = ["dlbio.config_checks", "dlbio.models.registry", "dlbio.resources", "dlbio.workflow_internals"]
    code = f"import sys\nfor m in {modules}: __import__(m)\nprint('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_a_cell_gnns_own_settings_reach_only_that_model():
    gnn = {"hidden": 64, "heads": 4, "lr": 0.01}
    assert cell_gnn_settings("gat", gnn) == gnn
    assert cell_gnn_settings("gcn", gnn) == {"hidden": 64, "lr": 0.01}
    assert set(CELL_GNN_OWN_SETTINGS) <= set(CELL_GNNS)
