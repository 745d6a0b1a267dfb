"""Helpers shared by the test modules (import them from here, never from another test module): the repository
root, real Snakemake runs, the tiny configs of tests/configs/, schema defaults and small toy data."""

import os
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
# `make test` runs the tests in pytest-xdist workers (more than cores): each worker's Snakemake runs take one core
CORES = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"


def snakemake_command(workdir):
    return [sys.executable, "-m", "snakemake", "-s", REPO / "Snakefile", "-d", workdir, "--configfile", "config.yaml"]


def snakemake(workdir, config, *args):
    """Run the real workflow with ``config`` in ``workdir``; returns the completed process."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*map(str, snakemake_command(workdir)), "--cores", CORES, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def merge(base, changes):
    """``base`` with ``changes`` merged in, nested mappings key by key (a new dict; neither argument changes)."""
    merged = dict(base)
    for key, value in changes.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merge(merged[key], value) if nested else value
    return merged


def load_config(*names, **values):
    """The tiny configs tests/configs/<name>.yaml merged in order (later files add to and override earlier ones),
    with ``$placeholders`` in them replaced by ``values`` (paths made in a test's temporary directory); top-level
    keys that start with ``_`` only hold YAML anchors and are left out."""
    values = {key: str(value) for key, value in values.items()}

    def filled(node):
        if isinstance(node, dict):
            return {key: filled(value) for key, value in node.items()}
        if isinstance(node, list):
            return [filled(value) for value in node]
        return string.Template(node).substitute(values) if isinstance(node, str) else node

    config = {}
    for name in names:
        config = merge(config, filled(yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())))
    return {key: value for key, value in config.items() if not key.startswith("_")}


def schema_defaults(section, **entry):
    """One entry of the config ``section`` (``cells``, ``gan``, ...) with every default of config/schema.yaml filled
    in by validating it with ``set_default``, as the Snakefile does: ``entry`` holds its required and changed keys."""
    from snakemake.utils import validate

    config = {section: {"entry": entry}}
    validate(config, str(REPO / "config" / "schema.yaml"), set_default=True)
    return config[section]["entry"]


# ---------------------------------------------------------------- toy tiles for the GAN and the tile classifier

def tiny_data(seed=0, n=24, size=(16, 32)):
    """Two classes of uint8 tiles: a bright bar at the top or at the bottom."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n, 2, *size), dtype=np.uint8)
    labels = np.arange(n) % 2
    for i, label in enumerate(labels):
        images[i, :, 2:6] += 150 if label == 0 else 0
        images[i, :, -6:-2] += 150 if label == 1 else 0
    return images, labels


def tiny_run(**changes):
    """A GAN run of the schema's defaults at toy size (dcgan, gan, 2 iterations)."""
    return schema_defaults("gan", dataset="tiny") | {
        "name": "tiny",
        "arch": "dcgan",
        "algorithm": "gan",
        "iterations": 2,
        "batch_size": 4,
        "width": 4,
        "nz": 8,
        "seed": 0,
        "checkpoint_every": 1,
        "grid_rows": 2,
        "critic_warmup": 2,
        "max_snapshots": 0,
    } | changes


TILE_CLASSIFIER = {"width": 8, "epochs": 4, "batch_size": 16, "lr": 0.002, "weight_decay": 0.0}


def toy_tiles(n_per_class, seed, size=(16, 32)):
    """Three classes of noisy 2-channel tiles: bright red, bright green, a bright centred square in both."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (3 * n_per_class, 2, *size)).astype(np.uint8)
    labels = np.repeat(np.arange(3), n_per_class)
    h, w = size
    images[labels == 0, 0] += 150
    images[labels == 1, 1] += 150
    images[labels == 2, :, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] += 150
    return images, labels
