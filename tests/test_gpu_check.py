"""benchmarks/gpu_check.py at toy sizes on the CPU, so the GPU check cannot rot between GPU runs."""

import subprocess
import sys

import pandas as pd
import pytest

from dlbio.models.registry import CELL_GNNS, GAN_ARCHS, MOLECULE_MODELS
from dlbio.train.adversarial import ALGORITHMS
from helpers import REPO


@pytest.mark.slow
def test_gpu_check_dry_run_passes_every_check(tmp_path):
    result = subprocess.run(
        [sys.executable, REPO / "benchmarks" / "gpu_check.py", "--device", "cpu", "--tiny", "--out", tmp_path],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    checks = pd.read_csv(tmp_path / "checks.tsv", sep="\t")
    assert (checks["result"] == "pass").all()
    names = " | ".join(checks["check"])
    for arch in GAN_ARCHS:
        for algorithm in ALGORITHMS:
            assert f"GAN {arch} {algorithm} fp32 trains" in names
    assert "GAN wgan-gp killed at iteration" in names
    assert "GAN evaluation on cpu" in names and "FID/KID/PRDC CPU vs device" in names
    assert "exact kNN on cpu" in names
    for arch in CELL_GNNS:
        assert f"cell {arch} trains on cpu" in names
    for arch in MOLECULE_MODELS:
        assert f"molecules {arch} trains on cpu" in names
    figures = pd.read_csv(tmp_path / "figures.tsv", sep="\t")
    assert figures["cpu"].gt(0).all() and figures["figure"].str.contains("iterations/s").any()
