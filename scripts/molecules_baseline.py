"""Morgan fingerprints + random forest on the same split as the molecule GNNs."""

from dlbio.data.molecules import load_molecule_dataset
from dlbio.evaluate.properties import evaluate_property_predictions
from dlbio.io import log_to
from dlbio.train.fingerprint_baseline import fit_predict_forest, morgan_fingerprints

log_to(snakemake.log[0])
out, cfg, fp = snakemake.output, snakemake.params.cfg, snakemake.params.cfg["baseline"]
_, table, y = load_molecule_dataset(snakemake.input.graphs, snakemake.input.table, cfg["targets"])
fingerprints = morgan_fingerprints(table["smiles"], fp["radius"], fp["n_bits"])
train = (table["split"] == "train").to_numpy()
pred = fit_predict_forest(fingerprints, y, train, cfg["task"], fp["n_estimators"], cfg["seed"], snakemake.threads)
evaluate_property_predictions(table, y, pred, cfg["targets"], cfg["task"], "fp_rf", out.metrics, out.predictions, out.figure)
