"""Morgan fingerprints + random forest on the same split as the molecule GNNs."""

from dlbio.data.molecules import load_molecule_dataset
from dlbio.evaluate.properties import evaluate_property_predictions
from dlbio.io import log_to
from dlbio.train.fingerprint_baseline import fit_predict_forest, morgan_fingerprints

log_to(snakemake.log[0])
out, entry, name = snakemake.output, snakemake.params.entry, snakemake.wildcards.model
fp, targets, task = entry["baseline"], entry["targets"], entry["task"]
_, table, y = load_molecule_dataset(snakemake.input.graphs, snakemake.input.table, targets)
fingerprints = morgan_fingerprints(table["smiles"], fp["radius"], fp["n_bits"])
train = (table["split"] == "train").to_numpy()
pred = fit_predict_forest(fingerprints, y, train, task, fp["n_estimators"], entry["seed"], snakemake.threads)
evaluate_property_predictions(table, y, pred, targets, task, name, out.metrics, out.predictions, out.figure)
