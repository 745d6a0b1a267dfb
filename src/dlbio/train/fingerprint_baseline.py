"""Fingerprint baseline: Morgan fingerprints (RDKit) + random forest (scikit-learn), one forest per task."""

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor


def morgan_fingerprints(smiles, radius, n_bits):
    """(M, n_bits) uint8 bit vectors of Morgan fingerprints."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return np.stack([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles]).astype(np.uint8)


def fit_predict_forest(fingerprints, y, train, task, n_estimators, seed, n_jobs=1):
    """Fit one forest per task on the labelled training molecules; predict every molecule.

    Returns (M, T) values (regression) or probabilities of class 1 (classification).
    """
    forest = RandomForestRegressor if task == "regression" else RandomForestClassifier
    predictions = []
    for t in range(y.shape[1]):
        rows = train & ~np.isnan(y[:, t])
        model = forest(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs).fit(fingerprints[rows], y[rows, t])
        if task == "regression":
            predictions.append(model.predict(fingerprints))
        else:
            proba = model.predict_proba(fingerprints)
            predictions.append(proba[:, list(model.classes_).index(1.0)] if 1.0 in model.classes_ else np.zeros(len(y)))
    return np.stack(predictions, 1)
