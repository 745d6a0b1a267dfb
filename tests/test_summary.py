"""results/summary.tsv: each path's headline rows from its results, written as headline.tsv and stacked; the GAN runs'
evaluation table."""

import pandas as pd
import pytest

from dlbio.evaluate.c2st import INCONCLUSIVE
from dlbio.evaluate.summary import (
    augment_cells_rows,
    augment_images_rows,
    evaluation_table,
    gan_rows,
    model_vs_baseline,
    motif_rows,
    summary_table,
    write_headline,
)
from dlbio.io import write_json


def comparison(baseline, metric, **means):
    """A comparison table of three replicates per model (paired differences with spread 0.01, one verdict)."""
    rows = [
        {"model": model, "kind": "replicates", "n_replicates": 3, f"{metric}_mean": mean,
         f"{metric}_vs_{baseline}_std": 0.01, f"{metric}_verdict": "improved" if model == "sage" else None}
        for model, mean in means.items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def table(tmp_path):
    cells = comparison("logreg", "macro_f1", gcn=0.70, sage=0.75, logreg=0.72)
    molecules = comparison("fp_rf", "rmse", mpnn=0.6, gine=0.7, fp_rf=0.55)
    molecules.loc[len(molecules)] = {"model": "mpnn ensemble", "kind": "ensemble", "rmse_mean": 0.4}  # not a best model
    active = comparison("fp_rf", "roc_auc", gine=0.86, fp_rf=0.93)
    gan = {"c2st_verdict": "separable", "c2st_wasserstein_mean": 0.7, "c2st_wasserstein_std": 0.1}
    gan |= {"floor_wasserstein_mean": 0.05, "mode_tv": 0.2}
    stuck = gan | {"c2st_verdict": INCONCLUSIVE, "c2st_wasserstein_mean": None, "c2st_wasserstein_std": None}
    images = pd.DataFrame(
        [
            {"fraction": 0.1, "metric": "accuracy", "real_mean": 0.8, "real+synthetic_mean": 0.9, "delta_std": 0.1},
            {"fraction": 0.1, "metric": "macro_f1", "real_mean": 0.71, "real+synthetic_mean": 0.76, "delta_std": 0.03},
            {"fraction": 1.0, "metric": "macro_f1", "real_mean": 0.9, "real+synthetic_mean": 0.9, "delta_std": 0.01},
        ]
    )
    rare = {"metric": "rare_f1", "rare_type": "NK"}
    rare |= {"rare_f1_gan_vs_none": 0.1, "rare_f1_gan_vs_none_std": 0.05}
    rare |= {"rare_f1_gan_vs_oversample": -0.02, "rare_f1_gan_vs_oversample_std": 0.04}
    motifs = pd.DataFrame(
        [
            {"algorithm": "training", "fraction_any": 1.0, "share_A": 0.4, "share_B": 0.6},
            {"algorithm": "gan", "fraction_any": 0.905, "share_A": 0.147, "share_B": 0.853},
            {"algorithm": "wgan-gp", "fraction_any": 0.97, "share_A": 0.42, "share_B": 0.58},
        ]
    )
    headlines = [
        model_vs_baseline("cells", "pbmc", cells, "logreg"),
        model_vs_baseline("molecules", "cmet", molecules, "fp_rf"),
        model_vs_baseline("molecules", "active", active, "fp_rf"),
        gan_rows("demo", gan),
        gan_rows("stuck", stuck),
        augment_images_rows("demo", images),
        augment_cells_rows("rare", rare),
        motif_rows("two", motifs),
    ]
    paths = [tmp_path / f"headline{i}.tsv" for i in range(len(headlines))]
    for rows, path in zip(headlines, paths):
        write_headline(rows, path)
    return summary_table(paths)


def one(table, path, name, metric):
    rows = table[(table["path"] == path) & (table["name"] == name) & (table["metric"] == metric)]
    assert len(rows) == 1, (path, name, metric)
    return rows.iloc[0]


def test_best_model_is_compared_with_its_baseline(table):
    sage = one(table, "cells", "pbmc", "macro_f1 of best model (sage), mean of 3 replicates")
    assert (sage["value"], sage["reference"], sage["reference_value"]) == (0.75, "logreg", 0.72)
    assert (sage["difference"], sage["spread"], sage["verdict"]) == (pytest.approx(0.03), 0.01, "improved")
    mpnn = one(table, "molecules", "cmet", "rmse of best model (mpnn), mean of 3 replicates")  # lowest RMSE is best
    assert mpnn["difference"] == pytest.approx(0.05)
    active = one(table, "molecules", "active", "roc_auc of best model (gine), mean of 3 replicates")
    assert active["difference"] == pytest.approx(-0.07)


def test_gan_c2st_beside_its_floor_and_augmentation_deltas_with_spread(table):
    c2st = one(table, "gan", "demo", "C2ST Wasserstein estimate (real vs generated)")
    assert (c2st["value"], c2st["reference_value"], c2st["spread"], c2st["verdict"]) == (0.7, 0.05, 0.1, "separable")
    images = table[table["path"] == "augment_images"].iloc[0]
    assert images["difference"] == pytest.approx(0.05) and images["spread"] == 0.03
    rare = table[table["path"] == "augment_cells"]
    assert list(rare["value"]) == [0.1, -0.02] and list(rare["spread"]) == [0.05, 0.04]


def test_inconclusive_c2st_has_no_value_but_says_why(table):
    c2st = one(table, "gan", "stuck", "C2ST Wasserstein estimate (real vs generated)")
    assert c2st["verdict"] == INCONCLUSIVE and c2st["reference_value"] == 0.05
    assert pd.isna(c2st["value"]) and pd.isna(c2st["difference"]) and pd.isna(c2st["spread"])
    assert one(table, "gan", "stuck", "mode total-variation distance")["value"] == 0.2
    assert table.loc[~table["path"].isin(["gan", "cells"]), "verdict"].isna().all()


def test_motif_rows_show_the_split_against_training(table):
    motifs = table[table["path"] == "motifs"].set_index("metric")
    assert motifs.loc["share of motif A (gan)", "difference"] == pytest.approx(-0.253)
    assert motifs.loc["carry a motif (wgan-gp)", "value"] == 0.97
    assert len(motifs) == 4


def test_rows_keep_the_order_of_the_headline_files_and_no_files_give_an_empty_table(table):
    assert list(table["path"].unique()) == ["cells", "molecules", "gan", "augment_images", "augment_cells", "motifs"]
    assert list(table["name"].unique()) == ["pbmc", "cmet", "active", "demo", "stuck", "rare", "two"]
    assert summary_table([]).empty


def test_gan_evaluation_table_has_one_row_per_run_without_per_class_values(tmp_path):
    for run, fid in (("a", 1.5), ("b", 2.5)):
        write_json(
            {"run": run, "fid": fid, "fid/Alp14": 3.0, "cell_length_wasserstein": None}, tmp_path / f"{run}.json"
        )
    table = evaluation_table([tmp_path / "a.json", tmp_path / "b.json"])
    assert list(table.columns) == ["run", "fid", "cell_length_wasserstein"]
    assert list(table["fid"]) == [1.5, 2.5] and table["cell_length_wasserstein"].isna().all()
