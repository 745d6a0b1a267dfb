"""Conformal regression intervals (coverage on data with a known noise level, normalisation, bad input), the
calibration table of a molecules entry, and the nearest training molecule by Tanimoto similarity."""

import math

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from dlbio.data.molecules import read_molecule_table
from dlbio.data.molecules.similarity import nearest_training
from dlbio.errors import InputError
from dlbio.evaluate.conformal import calibrate, check_level, interval_scores, min_calibration_size
from dlbio.evaluate.molecule_intervals import (
    calibrate_models,
    check_validation_size,
    comparison_columns,
    read_calibration,
)
from dlbio.train.fingerprint_baseline import morgan_fingerprints

REMEDY = "raise split.val"


def noisy(rng, n, heteroscedastic):
    """``(y, mean, spread)``: predictions ``mean`` off by Gaussian noise of a known scale; ``spread`` is that scale
    (times a constant, as replicates' std would be) where the noise varies, else None."""
    mean = rng.normal(size=n)
    scale = rng.uniform(0.1, 2.0, n) if heteroscedastic else np.full(n, 0.5)
    y = mean + rng.normal(size=n) * scale
    return y, mean, (0.3 * scale if heteroscedastic else None)


@pytest.mark.parametrize("heteroscedastic", [False, True])
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_coverage_is_the_level_over_seeds(level, heteroscedastic):
    """Over calibration sets, split conformal's coverage is Beta(k, n + 1 − k) with k = ⌈(n + 1)·level⌉: mean
    k / (n + 1) (0.802 at 0.8, 0.901 at 0.9 for n = 100), std ≈ 0.04 / 0.03. Over 200 seeds of 100 calibration
    and 2,000 test values the mean coverage is within 0.01 of k / (n + 1) and the std within 25 % of Beta's."""
    n, k = 100, math.ceil(101 * level)
    coverages = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        y, mean, spread = noisy(rng, n + 2000, heteroscedastic)
        cal, test = slice(0, n), slice(n, None)
        fitted = calibrate(y[cal], mean[cal], None if spread is None else spread[cal], level, "toy", REMEDY)
        assert fitted.n == n and (fitted.floor is not None) == heteroscedastic
        scores = interval_scores(y[test], mean[test], None if spread is None else spread[test], fitted)
        coverages.append(scores["coverage"])
    beta_std = math.sqrt(k * (n + 1 - k) / ((n + 1) ** 2 * (n + 2)))
    assert np.mean(coverages) == pytest.approx(k / (n + 1), abs=0.01)
    assert np.std(coverages) == pytest.approx(beta_std, rel=0.25)


def test_normalised_intervals_follow_the_spread_and_are_narrower_on_average():
    rng = np.random.default_rng(0)
    y, mean, spread = noisy(rng, 4000, heteroscedastic=True)
    cal, test = slice(0, 2000), slice(2000, None)
    normalised = calibrate(y[cal], mean[cal], spread[cal], 0.9, "toy", REMEDY)
    plain = calibrate(y[cal], mean[cal], None, 0.9, "toy", REMEDY)
    half = normalised.half_width(spread[test])
    assert np.corrcoef(half, spread[test])[0, 1] == pytest.approx(1)
    a = interval_scores(y[test], mean[test], spread[test], normalised)
    b = interval_scores(y[test], mean[test], None, plain)
    assert a["coverage"] == pytest.approx(0.9, abs=0.02) and b["coverage"] == pytest.approx(0.9, abs=0.02)
    assert a["mean_width"] < 0.9 * b["mean_width"]
    assert a["spearman"] > 0.3 and b["spearman"] is None


def test_the_quantile_is_the_conformal_rank_of_the_scores():
    y = np.arange(1, 10, dtype=float)  # residuals 1..9 against a zero prediction
    fitted = calibrate(y, np.zeros(9), None, 0.9, "toy", REMEDY)
    assert fitted.q == 9  # ⌈10 · 0.9⌉ = 9th smallest
    with_missing = calibrate(np.append(y, [np.nan, 10]), np.zeros(11), None, 0.8, "toy", REMEDY)
    assert with_missing.n == 10 and with_missing.q == 9  # NaN left out; ⌈11 · 0.8⌉ = 9th smallest


@pytest.mark.parametrize(("level", "need"), [(0.5, 1), (0.8, 4), (0.9, 9), (0.95, 19), (0.99, 99)])
def test_fewest_calibration_values(level, need):
    assert min_calibration_size(level) == need
    calibrate(np.ones(need), np.zeros(need), None, level, "toy", REMEDY)
    with pytest.raises(
        InputError,
        match=rf"toy: {level:.0%} intervals need at least {need} validation molecules "
        rf"with a measured value, there are {need - 1}; raise split.val",
    ):
        calibrate(np.ones(need - 1), np.zeros(need - 1), None, level, "toy", REMEDY)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, True, "0.9"])
def test_a_level_outside_zero_one_is_named(level):
    with pytest.raises(InputError, match=r"config key 'molecules.lab.interval_level' = .*strictly between 0 and 1"):
        check_level(level, "molecules.lab.interval_level")


def predictions_file(path, ids, split, y, predicted):
    pd.DataFrame({"id": ids, "smiles": "C", "split": split, "Act": y, "predicted_Act": predicted}).to_csv(
        path, sep="\t", index=False
    )
    return path


def test_entry_calibration_pools_replicates_and_round_trips(tmp_path):
    """Two replicates on one split: the mean and std of their predictions; resplit: each replicate's own rows."""
    rng = np.random.default_rng(1)
    n = 300
    ids, y = [f"m{i}" for i in range(n)], rng.normal(size=n)
    split = np.array(["train"] * 100 + ["val"] * 100 + ["test"] * 100)
    runs = [y + rng.normal(scale=0.5, size=n) for _ in range(2)]
    paths = [predictions_file(tmp_path / f"rep{r}.tsv", ids, split, y, runs[r]) for r in range(2)]
    table = calibrate_models({"gine": paths, "fp_rf": paths[:1]}, ["Act"], 0.9, True, "molecules.lab")
    assert table.set_index("model")["normalised"].to_dict() == {"gine": True, "fp_rf": False}
    mean, spread = np.mean(runs, 0), np.std(runs, 0, ddof=1)
    val, test = split == "val", split == "test"
    expected = calibrate(y[val], mean[val], spread[val], 0.9, "x", "x")
    gine = table.set_index("model").loc["gine"]
    assert gine["q"] == pytest.approx(expected.q) and gine["floor"] == pytest.approx(np.median(spread[val]))
    assert gine["coverage"] == pytest.approx(interval_scores(y[test], mean[test], spread[test], expected)["coverage"])
    assert comparison_columns(table).loc["fp_rf", "interval_level"] == 0.9
    path = tmp_path / "intervals.tsv"
    table.to_csv(path, sep="\t", index=False)
    assert read_calibration(path, {"gine": 2, "fp_rf": 1})[("gine", "Act")].q == pytest.approx(expected.q)
    with pytest.raises(InputError, match="intervals.tsv' calibrates 2 replicates of 'gine' but 3 predict"):
        read_calibration(path, {"gine": 3})
    resplit = [predictions_file(tmp_path / "other.tsv", ids, split[::-1], y, runs[1]), paths[0]]
    pooled = calibrate_models({"gine": resplit}, ["Act"], 0.9, False, "molecules.lab").iloc[0]
    assert pooled["n_val"] == 200 and not pooled["normalised"] and pooled["n_test"] == 200
    few = [predictions_file(tmp_path / "few.tsv", ids, np.where(np.arange(n) < 295, "train", "val"), y, runs[0])]
    with pytest.raises(
        InputError,
        match=r"molecules.lab: model 'gine', target 'Act': 90% intervals need at least 9 "
        r"validation molecules with a measured value, there are 5; give more molecules the split 'val' "
        r"\(config key 'molecules.lab.split.val'\) or lower 'molecules.lab.interval_level'",
    ):
        calibrate_models({"gine": few}, ["Act"], 0.9, True, "molecules.lab")


def test_validation_size_is_checked_on_the_prepared_split(tmp_path):
    path = tmp_path / "molecules.tsv"
    split = ["train"] * 20 + ["val"] * 10 + ["test"] * 5
    act = [1.0] * 29 + [np.nan] * 6  # one validation molecule unlabelled: 9 labelled
    pd.DataFrame({"id": range(35), "split": split, "Act": act}).to_csv(path, sep="\t", index=False)
    table = check_validation_size(path, ["Act"], 0.9, "molecules.lab")
    assert table.to_dict("records") == [{"target": "Act", "n_val": 9, "needed": 9}]
    with pytest.raises(InputError, match="molecules.lab: target 'Act': 95% intervals need at least 19 .* there are 9"):
        check_validation_size(path, ["Act"], 0.95, "molecules.lab")
    with pytest.raises(InputError, match="'molecules.lab.interval_level' = 1.2: a conformal level must lie strictly"):
        check_validation_size(path, ["Act"], 1.2, "molecules.lab")


def test_nearest_training_molecule_is_rdkits_bulk_tanimoto():
    smiles = read_molecule_table("rdkit:CHEMBL2321810", "smiles", ["Act"], None)["input_smiles"].iloc[:80].tolist()
    smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles] + ["C", "[Na+]"]
    train, query = smiles[:50], smiles[50:] + smiles[:3]
    bits = morgan_fingerprints(smiles[:50] + query, 2, 1024)
    similarity, index = nearest_training(bits[50:], bits[:50], block=7)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    train_fps = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in train]
    for i, s in enumerate(query):
        brute = np.array(DataStructs.BulkTanimotoSimilarity(generator.GetFingerprint(Chem.MolFromSmiles(s)), train_fps))
        assert similarity[i] == pytest.approx(brute.max(), abs=1e-6)
        assert brute[index[i]] == pytest.approx(brute.max(), abs=1e-6)
    assert np.all(similarity[-3:] == 1) and index[-3:].tolist() == [0, 1, 2]  # training molecules find themselves
