"""The LIN-like cell simulator: files, determinism, and class signal only in green."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dlbio.data.simulate_lin import CLASSES, simulate_lin

N_PER_CLASS = 40


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("lin")
    return out, simulate_lin(out, N_PER_CLASS, (48, 80), seed=3)


def read_all(out, table):
    return np.stack([tifffile.imread(out / p) for p in table["path"]])


def test_layout_and_latent_table(simulated):
    out, table = simulated
    assert sorted(p.name for p in out.iterdir()) == sorted([*CLASSES, "latent.tsv"])
    assert len(table) == 6 * N_PER_CLASS
    assert table["path"].iloc[0] == "Alp14/cell000000.tif"
    assert (table.groupby("class").size() == N_PER_CLASS).all()
    assert {"path", "class", "stage", "phase", "length", "width", "angle", "dy", "dx", "old_end"} <= set(table.columns)
    written = pd.read_csv(out / "latent.tsv", sep="\t")
    assert written["path"].tolist() == table["path"].tolist()
    np.testing.assert_allclose(written["stage"], table["stage"], atol=1e-4)
    assert table["stage"].between(0, 1).all()
    assert table["length"].between(0.42 * 80, 0.92 * 80).all()
    assert set(table["phase"]) == {"monopolar", "bipolar", "septated"}
    img = tifffile.imread(out / table["path"].iloc[0])
    assert img.shape == (2, 48, 80) and img.dtype == np.uint16


def test_same_seed_gives_identical_files_other_seed_differs(simulated, tmp_path):
    out, table = simulated
    again = simulate_lin(tmp_path / "a", N_PER_CLASS, (48, 80), seed=3)
    pd.testing.assert_frame_equal(again, table)
    np.testing.assert_array_equal(read_all(tmp_path / "a", again), read_all(out, table))
    other = simulate_lin(tmp_path / "b", 2, (48, 80), seed=4)
    assert not np.array_equal(read_all(tmp_path / "b", other), read_all(out, table[table["path"].isin(other["path"])]))


def test_cells_are_longer_late_in_the_cycle_and_other_sizes_work(simulated, tmp_path):
    _, table = simulated
    assert np.corrcoef(table["stage"].clip(upper=0.85), table["length"])[0, 1] > 0.95
    small = simulate_lin(tmp_path, 1, size=(32, 64), seed=0)
    assert tifffile.imread(tmp_path / small["path"].iloc[0]).shape == (2, 32, 64)


def features(images, channel):
    """Channel ``channel`` scaled per cell, 4×4 block means, folded left/right and up/down (pose-free)."""
    x = images[:, channel].astype(np.float64) - 100
    x /= np.percentile(x, 99.5, axis=(1, 2), keepdims=True)
    x = x + x[:, ::-1] + x[:, :, ::-1] + x[:, ::-1, ::-1]
    n, h, w = x.shape
    x = x[:, : h // 2, : w // 2]  # one quadrant holds all of the folded image
    return x.reshape(n, h // 8, 4, w // 8, 4).mean(axis=(2, 4)).reshape(n, -1)


def class_accuracy(images, labels, channel):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    return cross_val_score(model, features(images, channel), labels, cv=4).mean()


def test_green_separates_classes_red_does_not(simulated):
    out, table = simulated
    images, labels = read_all(out, table), table["class"].to_numpy()
    green, red = class_accuracy(images, labels, 1), class_accuracy(images, labels, 0)
    assert green > 0.7, green  # chance is 1/6
    assert red < 0.3, red


def test_red_statistics_match_across_classes(simulated):
    out, table = simulated
    red = read_all(out, table)[:, 0].astype(np.float64)
    per_cell = pd.DataFrame({"class": table["class"], "mean": red.mean(axis=(1, 2)), "max": red.max(axis=(1, 2))})
    per_class = per_cell.groupby("class").mean()
    overall = per_cell[["mean", "max"]].mean()
    assert ((per_class / overall - 1).abs() < 0.12).all().all(), per_class / overall
