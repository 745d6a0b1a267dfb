"""A lab's own config: only its datasets are planned, only what changed reruns, a report belongs to its config."""

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from helpers import CORES, REPO, load_config

RESULT_NAME = re.compile(r"results/(cells|molecules|images|gan|augment/images|augment/cells|motifs)/([^/\s,]+)/")
GNN = {"hidden": 16, "max_epochs": 30, "patience": 10}


def own_data(workdir, config, *args):
    """The README's own-data command, ``snakemake --cores 2 --configfile my.yaml``, in a copy of the project
    (the demo config sits at config/config.yaml beside it); ``config`` None: the command without a config."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "config").exists():
        shutil.copytree(REPO / "config", workdir / "config")
    configfile = []
    if config is not None:
        (workdir / "my.yaml").write_text(yaml.safe_dump(config))
        configfile = ["--configfile", "my.yaml"]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", CORES, *configfile, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def planned_names(workdir, config):
    """(section, name) of every result a dry run plans."""
    result = own_data(workdir, config, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    return set(RESULT_NAME.findall(result.stdout + result.stderr))


def planned_rules(workdir, config):
    """Rule → number of jobs a dry run would run (the workflow's own ``all`` left out)."""
    result = own_data(workdir, config, "--dry-run", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    stats = re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, re.M)
    return {rule: int(n) for rule, n in stats if rule not in ("all", "total")}


def cells_entry(counts_h5ad, **changes):
    return {
        "h5ad": str(counts_h5ad),
        "label_key": "cell_type",
        "preprocess": {"min_genes": 10, "n_top_genes": 200, "n_pcs": 10},
        "graph": {"k": 10},
        "models": ["sage", "gat"],
        "gnn": dict(GNN),
    } | changes


@pytest.fixture
def lab_files(tmp_path, counts_h5ad):
    """A lab's files beside the project copy: raw counts, a molecule CSV and an image folder."""
    (tmp_path / "molecules.csv").write_text("smiles,pIC50\nCCO,5.1\nc1ccccc1O,6.2\n")
    (tmp_path / "tiles/Arp3").mkdir(parents=True)
    return {"h5ad": counts_h5ad, "csv": tmp_path / "molecules.csv", "folder": tmp_path / "tiles"}


def test_without_a_config_the_demo_is_planned(tmp_path):
    names = planned_names(tmp_path / "project", None)
    demo = {("cells", "pbmc68k"), ("molecules", "chembl_cmet"), ("gan", "demo"), ("motifs", "two_modes_alternating")}
    assert demo <= names


@pytest.mark.parametrize(
    "modality, expected",
    [
        ("cells", {("cells", "lab")}),
        ("molecules", {("molecules", "lab")}),
        ("images", {("images", "lab"), ("gan", "lab_gan")}),
    ],
)
def test_own_config_plans_only_its_datasets(tmp_path, lab_files, modality, expected):
    config = {
        "cells": {"cells": {"lab": {"h5ad": str(lab_files["h5ad"]), "label_key": "cell_type"}}},
        "molecules": {"molecules": {"lab": {"source": str(lab_files["csv"]), "targets": ["pIC50"]}}},
        "images": {"images": {"lab": {"folder": str(lab_files["folder"])}}, "gan": {"lab_gan": {"dataset": "lab"}}},
    }[modality]
    assert planned_names(tmp_path / "project", config) == expected


def test_paper_scale_config_plans_only_its_own_run(tmp_path):
    config = yaml.safe_load((REPO / "config/biogans.yaml").read_text())
    for split in ("train", "test"):
        (tmp_path / "project" / f"{config['images']['lin']['folder']}_{split}").mkdir(parents=True)
    names = planned_names(tmp_path / "project", config)
    assert names == {("images", "lin"), ("gan", "starshaped_wgangp"), ("augment/images", "lin_starshaped")}


def test_seeds_motif_config_plans_only_its_two_experiments(tmp_path):
    config = yaml.safe_load((REPO / "config/motifs_seeds.yaml").read_text())
    assert planned_names(tmp_path / "project", config) == {("motifs", "single"), ("motifs", "two_modes")}


def rerun_config(counts_h5ad):
    """Cells with a GNN, the baseline and a rare-cell experiment; a tiny evaluated GAN."""
    return {
        "cells": {"sim": cells_entry(counts_h5ad)},
        "augment_cells": {
            "rare": {
                "dataset": "sim",
                "rare_type": "type0",
                "fractions": [0.5],
                "seeds": [0],
                "models": ["logreg"],
                "gan": {"iterations": 5, "batch_size": 8, "hidden": 8},
            }
        },
        "images": {"tiles": {"simulate": {"n_per_class": 20, "seed": 1}, "size": [32, 48], "test_fraction": 0.4}},
        "gan": {
            "star": {
                "dataset": "tiles",
                "algorithm": "gan",
                "iterations": 2,
                "batch_size": 4,
                "width": 4,
                "nz": 8,
                "checkpoint_every": 1,
                "n_samples": 2,
                "max_snapshots": 2,
            }
        },
        "evaluation": {
            "enabled": True,
            "classifier": {"width": 4, "epochs": 2, "batch_size": 16},
            "n_generated": 48,
            "kid_subsets": 10,
            "c2st": {"iterations": 3, "batch_size": 4, "width": 4, "repeats": 2},
        },
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory, counts_h5ad):
    workdir = tmp_path_factory.mktemp("rerun")
    result = own_data(workdir, rerun_config(counts_h5ad))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def changed(config, path, value):
    """``config`` with the key at the dotted ``path`` set to ``value``."""
    *parents, key = path.split(".")
    entry = config
    for parent in parents:
        entry = entry.setdefault(parent, {})
    entry[key] = value
    return config


@pytest.mark.workflow
def test_the_unchanged_config_reruns_nothing(finished, counts_h5ad):  # the dry runs below leave no trace
    assert planned_rules(finished, rerun_config(counts_h5ad)) == {}


TABLES = {"summary": 1}
CELL_TABLES = {"cells_compare": 1, "cells_overview": 1, **TABLES}
GAN_TABLES = {"gan_evaluate": 1, "gan_evaluation_table": 1, **TABLES}


@pytest.mark.workflow
@pytest.mark.parametrize(
    "path, value, reruns",
    [
        ("cells.sim.gnn.hidden", 8, {"cells_train_gnn": 2, **CELL_TABLES}),
        ("cells.sim.gnn.heads", 2, {"cells_train_gnn": 1, **CELL_TABLES}),  # GAT only
        ("cells.sim.baseline.C", 0.5, {"cells_baseline": 1, **CELL_TABLES}),
        ("cells.sim.replicates", 2, {"cells_train_gnn": 2, "cells_baseline": 1, **CELL_TABLES}),  # only replicate 1
        (
            "cells.sim.preprocess.n_pcs",
            8,
            {"cells_prepare": 1, "cells_integration": 1, "cells_train_gnn": 2, "cells_baseline": 1,
             "augment_cells_run": 1, "augment_cells_summary": 1, **CELL_TABLES},
        ),  # fmt: skip
        ("augment_cells.rare.gan.iterations", 6, {"augment_cells_run": 1, "augment_cells_summary": 1, **TABLES}),
        ("evaluation.c2st.iterations", 4, GAN_TABLES),
        ("evaluation.nearest_k", 4, GAN_TABLES),
        ("evaluation.classifier.epochs", 3, {"images_classifier": 1, **GAN_TABLES}),
        ("gan.star.n_samples", 3, {"gan_sample": 1}),
        ("gan.star.iterations", 3, {"gan_train": 1, "gan_sample": 1, **GAN_TABLES}),
    ],
)
def test_a_changed_key_reruns_exactly_its_jobs(finished, counts_h5ad, path, value, reruns):
    assert planned_rules(finished, changed(rerun_config(counts_h5ad), path, value)) == reruns


@pytest.mark.workflow
def test_report_of_one_config_after_another_refuses_until_it_is_rerun(tmp_path):
    workdir = tmp_path / "project"
    tiny = load_config("motifs_tiny")["motifs"]["tiny"]
    first, second = ({"motifs": {name: tiny}} for name in ("first", "second"))
    for config in (first, second):
        result = own_data(workdir, config)
        assert result.returncode == 0, result.stderr[-3000:]
    assert set(pd.read_csv(workdir / "results/summary.tsv", sep="\t")["name"]) == {"second"}
    refused = own_data(workdir, first, "--report", "first.html")
    assert refused.returncode != 0
    assert "the results are not those of this config" in refused.stderr and "summary" in refused.stderr
    assert not (workdir / "first.html").exists()
    assert own_data(workdir, first).returncode == 0
    assert set(pd.read_csv(workdir / "results/summary.tsv", sep="\t")["name"]) == {"first"}
    reported = own_data(workdir, first, "--report", "first.html")
    assert reported.returncode == 0, reported.stderr[-3000:]
    html = (workdir / "first.html").read_text()
    assert "results/motifs/first/counts.tsv" in html and "results/motifs/second" not in html


@pytest.mark.workflow
@pytest.mark.parametrize(
    "change, message",
    [
        ({"images.tiles.test_fraction": 0.2}, "run 'star': evaluation needs ≥ 8 real test tiles per compared set"),
        (
            {"evaluation.enabled": False, "augment_images": {"few": {"gan_run": "star", "fractions": [0.01]}}},
            "config key 'augment_images.few.fractions': fraction 0.01 keeps 0 of the 12 training tiles",
        ),
    ],
)
def test_what_a_run_cannot_score_stops_it_before_training(tmp_path, counts_h5ad, change, message):
    config = rerun_config(counts_h5ad)
    del config["cells"], config["augment_cells"]
    for path, value in change.items():
        config = changed(config, path, value)
    result = own_data(tmp_path / "project", config)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "project/results/gan/star/generator.pt").exists()
    assert not (tmp_path / "project/results/gan/star/checkpoint").exists()
    assert not (tmp_path / "project/results/images/tiles/classifier/model.pt").exists()
