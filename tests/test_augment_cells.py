"""Rare cell-type augmentation: downsampling, new graph nodes, the conditional GAN, summaries, a real run."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Data

from dlbio.augment.cells import (
    ARMS,
    add_training_nodes,
    check_fractions,
    downsample,
    kept_count,
    oversample,
    paired_deltas,
    rare_class,
    run_augmentation,
    summarize,
    target_count,
    verdicts,
)
from dlbio.data.cells import knn_distances, knn_graph, stratified_split
from dlbio.errors import InputError
from dlbio.train.cell_gan import fit_cell_gan, sample_cells
from helpers import snakemake

CPU = torch.device("cpu")
GAN = {"iterations": 3, "batch_size": 8, "hidden": 8, "layers": 1, "nz": 4, "lr": None, "n_critic": None,
       "balanced": True}
GRAPH = {"k": 5, "metric": "euclidean", "symmetrize": "union", "method": "exact"}
GNN = {"hidden": 8, "layers": 2, "dropout": 0.5, "heads": 2, "lr": 0.01, "weight_decay": 5e-4, "max_epochs": 5,
       "patience": 5}
BASELINE = {"C": 1.0, "max_iter": 200}


def blobs(n_per_class=40, n_features=6, seed=0):
    """Three well-separated Gaussian clusters as a kNN graph with a stratified split."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    x = (rng.normal(size=(len(y), n_features)) + 6 * np.eye(3, n_features)[y]).astype(np.float32)
    edge_index, edge_weight = knn_graph(x, 5, "euclidean", "union")
    split = stratified_split(y, 0.2, 0.2, seed=0)
    masks = {f"{s}_mask": torch.from_numpy(split == s) for s in ("train", "val", "test")}
    return Data(x=torch.from_numpy(x), y=torch.from_numpy(y), edge_index=edge_index, edge_weight=edge_weight, **masks)


def test_downsampling_keeps_val_test_and_other_types_and_hits_the_count():
    labels = np.repeat([0, 1], 50)
    train = np.tile([True, True, True, False, False], 20)  # 30 training cells per type
    keep = downsample(labels, train, rare=1, fraction=0.2, seed=3)
    assert keep[~train].all() and keep[labels == 0].all()
    assert keep[train & (labels == 1)].sum() == kept_count(30, 0.2) == 6
    assert (downsample(labels, train, 1, 0.2, seed=3) == keep).all()
    assert (downsample(labels, train, 1, 0.2, seed=4) != keep).any()
    assert downsample(labels, train, 1, 1.0, seed=0).all()
    assert not (keep & ~downsample(labels, train, 1, 0.5, seed=3)).any()  # nested across fractions


def test_unknown_rare_type_and_empty_fraction_are_errors_naming_the_key():
    with pytest.raises(InputError, match="'exp.rare_type': cell type 'NK' is not in the dataset; its types are: B, T"):
        rare_class(np.array(["B", "T"]), "NK", "exp.rare_type")
    with pytest.raises(InputError, match=r"'exp.fractions': fraction 0.01 keeps 0 of the 30 training cells of 'B'"):
        check_fractions(30, [0.5, 0.01], "B", "exp.fractions")
    data = blobs()
    experiment = {"rare_type": "c1", "fractions": [0.3, 0.001], "target": "original", "models": ["logreg"],
                  "gnn": GNN, "baseline": BASELINE, "gan": GAN, "dataset": "blobs"}
    with pytest.raises(InputError, match="augment_cells.x.fractions': fraction 0.001 keeps 0"):
        run_augmentation(data, np.array(["c0", "c1", "c2"]), "x", experiment, GRAPH, 0.001, 0, CPU)


def test_full_fraction_adds_nothing_and_trains_no_gan():
    experiment = {"rare_type": "c1", "fractions": [1.0], "target": "original", "models": ["logreg"], "gnn": GNN,
                  "baseline": BASELINE, "gan": GAN, "dataset": "blobs"}
    runs, generated, kept, losses = run_augmentation(blobs(), np.array(["c0", "c1", "c2"]), "x", experiment, GRAPH,
                                                     1.0, 0, CPU)
    assert list(runs["arm"]) == list(ARMS) and (runs["n_added"] == 0).all() and (runs["n_rare_kept"] == 24).all()
    assert runs[["rare_f1", "macro_f1", "accuracy"]].nunique().eq(1).all()
    assert generated.shape == (0, 6) and len(kept) == 24 and losses.empty


def test_target_and_oversampling_counts():
    assert target_count(77, 8, "original") == 77
    assert target_count(77, 8, 3) == 24
    picks = oversample(np.array([10, 11, 12]), 50, seed=0)
    assert len(picks) == 50 and set(picks) <= {10, 11, 12}
    assert (oversample(np.array([10, 11, 12]), 50, seed=0) == picks).all()


def test_new_nodes_link_to_k_real_cells_symmetrically_and_old_edges_stay():
    data, k = blobs(), 4
    data.bandwidth = knn_distances(data.x.numpy(), 5, "euclidean")[1]
    x_new = np.vstack([data.x[:3].numpy() + 0.1, data.x[5:6].numpy()])  # the last one duplicates cell 5
    graph = add_training_nodes(data, x_new, 2, GRAPH | {"k": k})
    n, e = data.num_nodes, data.edge_index.shape[1]
    assert graph.num_nodes == n + 4 and (graph.y[n:] == 2).all()
    assert graph.train_mask[n:].all() and not graph.val_mask[n:].any() and not graph.test_mask[n:].any()
    assert torch.equal(graph.edge_index[:, :e], data.edge_index)
    assert torch.equal(graph.edge_weight[:e], data.edge_weight)
    new_edges, weights = graph.edge_index[:, e:], graph.edge_weight[e:]
    out = new_edges[0] >= n
    assert (new_edges[1][out] < n).all() and (new_edges[0][~out] < n).all() and (new_edges[1][~out] >= n).all()
    assert torch.bincount(new_edges[0][out] - n).tolist() == [k] * 4
    forward = {(a, b): w for (a, b), w in zip(new_edges[:, out].T.tolist(), weights[out].tolist())}
    backward = {(b, a): w for (a, b), w in zip(new_edges[:, ~out].T.tolist(), weights[~out].tolist())}
    assert forward == backward
    assert all(0 < w <= 1 for w in forward.values())
    assert forward[(n + 3, 5)] == 1.0  # a duplicate is linked to its original with weight 1


def test_conditional_gan_trains_and_samples_the_asked_type():
    data = blobs(n_per_class=60, n_features=4)
    params = GAN | {"iterations": 500, "batch_size": 32, "hidden": 32, "layers": 2, "nz": 8, "lr": 3e-3,
                    "n_critic": 2}
    generator, losses = fit_cell_gan(data.x, data.y, 3, params, CPU, seed=0)
    assert list(losses["iteration"]) == list(range(1, 501))
    assert np.isfinite(losses[["critic_loss", "generator_loss"]].to_numpy()).all()
    centroids = np.stack([data.x[data.y == c].numpy().mean(0) for c in range(3)])
    for label in range(3):
        cells = sample_cells(generator, label, 50, seed=1, device=CPU)
        assert cells.shape == (50, 4) and cells.dtype == np.float32
        nearest = np.linalg.norm(cells[:, None] - centroids[None], axis=2).argmin(1)
        assert (nearest == label).mean() > 0.8, label
    assert np.array_equal(sample_cells(generator, 1, 5, 1, CPU), sample_cells(generator, 1, 5, 1, CPU))


def test_paired_deltas_and_summary():
    rows = [
        {"fraction": 0.1, "seed": s, "arm": arm, "model": "logreg", "rare_recall": v, "rare_f1": v,
         "macro_f1": 0.5, "accuracy": 0.7}
        for s, values in [(0, (0.2, 0.5, 0.6)), (1, (0.4, 0.5, 0.4))]
        for arm, v in zip(ARMS, values)
    ]
    runs = paired_deltas(pd.DataFrame(rows))
    gan = runs[runs["arm"] == "gan"]
    assert gan["rare_f1_vs_none"].round(6).tolist() == [0.4, 0.0]
    assert gan["rare_f1_vs_oversample"].round(6).tolist() == [0.1, -0.1]
    summary = summarize(runs).set_index("arm")
    assert summary.loc["gan", "rare_f1_mean"] == pytest.approx(0.5)
    assert summary.loc["gan", "rare_f1_vs_none_mean"] == pytest.approx(0.2)
    assert summary.loc["gan", "rare_f1_vs_none_std"] == pytest.approx(np.std([0.4, 0.0], ddof=1))
    assert summary.loc["gan", "n_seeds"] == 2
    (line,) = verdicts(summary.reset_index())
    assert "did not beat none (+0.200 ± 0.283: within the spread over seeds)" in line
    assert "did not beat oversample (+0.000 ± 0.141: within the spread over seeds)" in line
    runs.loc[runs["arm"] == "gan", "rare_f1"] = [0.9, 0.9]
    (line,) = verdicts(summarize(paired_deltas(runs)))
    assert "beat none (+0.600 ± 0.141); beat oversample (+0.400 ± 0.000)" in line


EXPERIMENT = {
    "dataset": "sim",
    "rare_type": "type1",
    "fractions": [0.2, 0.5],
    "seeds": [0, 1],
    "models": ["logreg", "gcn"],
    "gnn": {"max_epochs": 15, "patience": 5},
    "gan": {"iterations": 20, "batch_size": 16, "hidden": 16, "nz": 8, "lr": 0.001},
}


def augment_config(counts_h5ad, **experiments):
    return {
        "cells": {
            "sim": {
                "h5ad": str(counts_h5ad),
                "label_key": "cell_type",
                "preprocess": {"min_genes": 10, "n_top_genes": 200, "n_pcs": 10},
                "graph": {"k": 8},
                "models": ["gcn"],
                "gnn": {"hidden": 16},
            }
        },
        "augment_cells": experiments,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory, counts_h5ad):
    workdir = tmp_path_factory.mktemp("augment_cells")
    config = augment_config(counts_h5ad, rare=EXPERIMENT)
    result = snakemake(workdir, config, "results/augment/cells/rare/summary.json")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.workflow
def test_runs_table_has_every_fraction_seed_arm_and_model(run):
    out = run / "results/augment/cells/rare"
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    expected = {(f, s, a, m) for f in (0.2, 0.5) for s in (0, 1) for a in ARMS for m in ("logreg", "gcn")}
    assert set(zip(runs["fraction"], runs["seed"], runs["arm"], runs["model"])) == expected and len(runs) == 24
    assert runs[["rare_recall", "rare_f1", "macro_f1", "accuracy"]].stack().between(0, 1).all()
    cells = pd.read_csv(run / "results/cells/sim/cells.tsv", sep="\t")
    n_train = int(((cells["label"] == "type1") & (cells["split"] == "train")).sum())
    kept = runs.groupby("fraction")["n_rare_kept"].first()
    assert kept[0.5] == kept_count(n_train, 0.5)
    assert kept[0.2] == kept_count(n_train, 0.2)
    none, added = runs[runs["arm"] == "none"], runs[runs["arm"] != "none"]
    assert (none["n_added"] == 0).all() and (added["n_rare_kept"] + added["n_added"] == n_train).all()
    assert (runs[runs["arm"] == "none"]["rare_f1_vs_none"] == 0).all()
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert len(summary) == 12 and (summary["n_seeds"] == 2).all()
    record = json.loads((out / "summary.json").read_text())
    assert record["rare_type"] == "type1" and record["n_seeds"] == 2
    assert record["rare_f1_gan_vs_oversample"] == pytest.approx(
        runs.loc[runs["arm"] == "gan", "rare_f1_vs_oversample"].mean(), abs=1e-3
    )
    for figure in ("rare_f1.png", "generated.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    generated = torch.load(out / "runs/fraction0.2_seed0.generated.pt", weights_only=True)
    assert generated["generated"].shape == (n_train - kept[0.2], 10) and len(generated["kept"]) == kept[0.2]
    log = (run / "logs/augment/cells/rare/summary.log").read_text()
    assert "fraction 0.2, gcn: GAN augmentation" in log


@pytest.mark.workflow
def test_unknown_rare_type_stops_the_run_with_the_types_listed(run, counts_h5ad):
    config = augment_config(counts_h5ad, bad=EXPERIMENT | {"rare_type": "NK", "fractions": [0.5], "seeds": [0]})
    result = snakemake(run, config, "results/augment/cells/bad/summary.json")
    assert result.returncode != 0
    log = (run / "logs/augment/cells/bad/fraction0.5_seed0.log").read_text()
    assert "config key 'augment_cells.bad.rare_type': cell type 'NK' is not in the dataset; " in log
    assert "its types are: type0, type1, type2" in log
    assert not (run / "results/augment/cells/bad/runs/fraction0.5_seed0.tsv").exists()


@pytest.mark.workflow
def test_experiment_on_an_unknown_dataset_fails_before_any_job(tmp_path, counts_h5ad):
    result = snakemake(tmp_path, augment_config(counts_h5ad, bad=EXPERIMENT | {"dataset": "pbmc"}))
    assert result.returncode != 0
    assert "config key 'augment_cells.bad.dataset': 'pbmc' is not a cells entry; known: sim" in result.stderr
    assert not (tmp_path / "results").exists()
