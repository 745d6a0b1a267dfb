"""Morgan fingerprints + random forest (one replicate) on the same split as the molecule GNNs (a classifier
calibrated on the validation molecules)."""

from dlbio.apply.molecules import save_fingerprint_forest
from dlbio.data.molecules import load_molecule_dataset, replicate_split
from dlbio.evaluate.properties import evaluate_property_predictions
from dlbio.io import log_to
from dlbio.train.fingerprint_baseline import fit_forests, morgan_fingerprints, predict_forests

log_to(snakemake.log[0])
out, entry, replicate, name = snakemake.output, snakemake.params.entry, snakemake.params.replicate, snakemake.wildcards.model
fp, targets, task = entry["baseline"], entry["targets"], entry["task"]
_, table, y = load_molecule_dataset(snakemake.input.graphs, snakemake.input.table, targets)
table = replicate_split(table, y, replicate, targets, task)
fingerprints = morgan_fingerprints(table["smiles"], fp["radius"], fp["n_bits"])
train = (table["split"] == "train").to_numpy()
forests = fit_forests(fingerprints, y, train, task, fp["n_estimators"], replicate["seed"], snakemake.threads)
pred = predict_forests(forests, fingerprints)
_, calibrations = evaluate_property_predictions(
    table, y, pred, targets, task, name, out.metrics, out.predictions, out.figure
)
save_fingerprint_forest(out.model, forests, fp, task, targets, entry["standardize"], calibrations)
