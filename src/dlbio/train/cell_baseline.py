"""Non-graph baseline: logistic regression on the same features and split as the GNNs; its model file (with the
temperature that calibrates its probabilities)."""

import zipfile

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dlbio.errors import InputError

MODEL_KIND = "logreg"
MODEL_FORMAT = 2  # version of the model file; a file of another version is refused (1: no temperature)
ARRAYS = ("scaler_mean", "scaler_scale", "coef", "intercept", "classes", "temperature")


def fit_logistic(x, y, C, max_iter, seed):
    """Standardised features → multinomial logistic regression, fitted on ``x``, ``y``."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    return model.fit(x, y)


def save_logistic(model, path, temperature):
    """Write a :func:`fit_logistic` model and its calibrating ``temperature`` as parameters in a pickle-free .npz."""
    scaler, logistic = model[0], model[-1]
    with open(path, "wb") as handle:
        np.savez(
            handle,
            kind=MODEL_KIND,
            format=MODEL_FORMAT,
            scaler_mean=scaler.mean_,
            scaler_scale=scaler.scale_,
            coef=logistic.coef_,
            intercept=logistic.intercept_,
            classes=logistic.classes_,
            temperature=float(temperature),
        )


def load_logistic(path, n_features=None, n_classes=None):
    """``(model, temperature)`` saved by :func:`save_logistic`, the model rebuilt as a fitted pipeline (same
    ``predict_proba``).

    A file of another kind or format version, or other feature/class counts than given (``None``: not
    checked), is an error naming ``path``.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            saved = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"'{path}' cannot be read as a logistic-regression model .npz: {err}") from err
    if str(saved.get("kind", "")) != MODEL_KIND or any(name not in saved for name in ARRAYS):
        raise InputError(f"'{path}' is not a logistic-regression model file (written by save_logistic)")
    if int(saved.get("format", -1)) != MODEL_FORMAT:
        raise InputError(
            f"'{path}' is a logistic-regression model file of format {int(saved.get('format', -1))}; this version "
            f"reads format {MODEL_FORMAT}: train the model again"
        )
    coef = saved["coef"]
    found = {"n_features": coef.shape[1], "n_classes": len(saved["classes"])}
    for name, want in {"n_features": n_features, "n_classes": n_classes}.items():
        if want is not None and found[name] != want:
            raise InputError(f"'{path}' holds a model with {name} = {found[name]}, expected {want}")
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = saved["scaler_mean"], saved["scaler_scale"], saved["scaler_scale"] ** 2
    logistic = LogisticRegression()
    logistic.coef_, logistic.intercept_, logistic.classes_ = coef, saved["intercept"], saved["classes"]
    scaler.n_features_in_ = logistic.n_features_in_ = coef.shape[1]
    return make_pipeline(scaler, logistic), float(saved["temperature"])
