"""The applicability domain on the test molecules: how a model's error grows as the similarity to its training
molecules falls (highest Tanimoto similarity of Morgan fingerprints, the baseline's).

Errors are absolute (classification: |label − probability of class 1|), every replicate with its own split and
prediction; molecules are binned by similarity at :data:`BINS`.
"""

import numpy as np
import pandas as pd

from dlbio.data.molecules.similarity import nearest_training
from dlbio.figures import plt
from dlbio.train.fingerprint_baseline import morgan_fingerprints

BINS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0001)  # similarity bins: [0, 0.3), [0.3, 0.4), ..., [0.7, 1]


def held_out_errors(tables, targets, radius, n_bits):
    """Long table (``model``, ``replicate``, ``target``, ``similarity``, ``error``) of every labelled test molecule of
    every replicate; ``tables``: model → its replicates' ``predictions.tsv`` tables. Similarities are computed
    once per distinct split."""
    fingerprints = morgan_fingerprints(next(iter(tables.values()))[0]["smiles"], radius, n_bits)
    similarity, rows = {}, []
    for model, replicates in tables.items():
        for r, table in enumerate(replicates):
            split = table["split"].to_numpy()
            key = "\t".join(split)
            if key not in similarity:
                similarity[key] = nearest_training(fingerprints[split == "test"], fingerprints[split == "train"])[0]
            test = table[split == "test"]
            for target in targets:
                error = (test[f"predicted_{target}"] - test[target]).abs().to_numpy()
                labelled = ~np.isnan(error)
                rows.append(
                    pd.DataFrame(
                        {"model": model, "replicate": r, "target": target}
                        | {"similarity": similarity[key][labelled], "error": error[labelled]}
                    )
                )
    return pd.concat(rows, ignore_index=True)


def error_by_similarity(errors):
    """Per model and similarity bin: ``n`` (molecules × replicates × targets), ``mean_error``, ``median_error``."""
    labels = [f"{lo:.1f}–{min(hi, 1):.1f}" for lo, hi in zip(BINS[:-1], BINS[1:])]
    binned = errors.assign(bin=pd.cut(errors["similarity"], BINS, right=False, labels=labels))
    table = binned.groupby(["model", "bin"], observed=True, sort=False)["error"].agg(["size", "mean", "median"])
    table = table.reset_index().rename(columns={"size": "n", "mean": "mean_error", "median": "median_error"})
    return table.sort_values(["model", "bin"]).round(4)


def plot_applicability(errors, path, title):
    """Mean absolute test error per similarity bin, one line per model (point size: molecules in the bin)."""
    table = error_by_similarity(errors)
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = [b for b in table["bin"].cat.categories if (table["bin"] == b).any()]
    for model, rows in table.groupby("model", sort=False):
        x = [bins.index(b) for b in rows["bin"]]
        ax.plot(x, rows["mean_error"], "o-", label=model)
        ax.scatter(x, rows["mean_error"], s=4 + 60 * rows["n"] / table["n"].max(), alpha=0.4)
    ax.set_xticks(range(len(bins)), bins)
    ax.set(xlabel="highest Tanimoto similarity to the training molecules", ylabel="mean |error|", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
