"""Kept molecule models and predicting a library with them, chunk by chunk.

Model files (nothing in them runs code when loaded):

- a GNN: ``.pt`` read with ``torch.load(..., weights_only=True)``, a dict of ``format``
  (:data:`MODEL_FORMAT`), ``format_version``, ``arch``, ``task``, ``targets``, ``standardize`` (the
  training entry's RDKit steps), ``featurization_version``, ``atom_dim``, ``bond_dim``, ``params`` (the
  ``gnn`` entry the model was built from), ``scaler_mean``/``scaler_std`` (regression target scaling),
  ``calibration`` (classification: per target the ``temperature`` and validation molecules' ``conformal_scores``
  of :class:`~dlbio.evaluate.calibration.ProbabilityCalibration`; regression: None) and ``state_dict``;
- the fingerprint forest: ``.npz`` of plain arrays (:func:`dlbio.train.fingerprint_baseline.save_forests`)
  whose metadata holds the same keys as a GNN's plus ``fingerprint`` (Morgan ``radius``, ``n_bits``).

A library (CSV/TSV/SDF with the training entry's column options) is read ``chunk_size`` rows at a time;
every chunk is standardised as in training (RDKit parse, the model's ``standardize`` steps, canonical
SMILES), featurised once per kind of input and predicted by every model. Rows that fail are rejected with
RDKit's reason; duplicates are predicted, not rejected. Regression predictions get conformal intervals
(:mod:`dlbio.evaluate.molecule_intervals`), classification probabilities are calibrated by each model's
temperatures and get conformal prediction sets, and every molecule its nearest training molecule
(:class:`TrainingSet`).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rdkit import Chem, rdBase

from dlbio.data.molecules.featurize import (
    ATOM_FEATURES,
    BOND_FEATURES,
    FEATURIZATION_VERSION,
    featurize_many,
)
from dlbio.data.molecules.graphs import MoleculeGraphs
from dlbio.data.molecule_library import choose_id_column, file_kind
from dlbio.data.molecules.reading import sdf_record
from dlbio.data.molecules.standardize import Standardizer, parse_smiles
from dlbio.data.molecules.similarity import nearest_training
from dlbio.errors import InputError, require_file
from dlbio.evaluate.calibration import ProbabilityCalibration, calibrate_tasks, set_labels, two_class
from dlbio.evaluate.conformal import check_level
from dlbio.io import atomic_write
from dlbio.models.registry import MOLECULE_BASELINE
from dlbio.train.fingerprint_baseline import load_forests, morgan_fingerprints, predict_forests, save_forests

MODEL_FORMAT, MODEL_FORMAT_VERSION = "dlbio.molecule_model", 2  # version 1: no calibration
FLOAT_FORMAT = "%.7g"  # float32 predictions in full
log = logging.getLogger(__name__)


@dataclass
class MoleculeModel:
    """A loaded model: what it predicts, how its molecules are standardised and featurised, and its predictor.

    ``features`` names the featuriser (``("graphs",)`` or ``("morgan", radius, n_bits)``); ``predict`` maps
    those features of canonical SMILES to ``(M, T)`` values (regression) or calibrated probabilities of class 1;
    ``calibrations``: a classifier's :class:`~dlbio.evaluate.calibration.ProbabilityCalibration` per target (None
    for regression).
    """

    path: str
    arch: str
    task: str
    targets: list
    standardize: dict
    features: tuple
    predict: Callable
    calibrations: list | None


def _metadata(arch, task, targets, standardize, calibrations):
    """The keys every molecule model file holds; ``calibrations``: a classifier's, one per target (as plain lists)."""
    if (task == "classification") != (calibrations is not None):
        raise ValueError(f"a {task} model is saved {'without' if calibrations is None else 'with'} calibrations")
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "arch": arch,
        "task": task,
        "targets": list(targets),
        "standardize": dict(standardize),
        "calibration": None
        if calibrations is None
        else [{"temperature": c.temperature, "conformal_scores": c.scores.tolist()} for c in calibrations],
    }


def save_molecule_model(path, model, scaler, arch, params, task, targets, standardize, calibrations=None):
    """Write a GNN from :func:`~dlbio.train.molecule_gnn.fit_molecule_model` with what predicting needs, atomically.

    ``params``: the ``gnn`` entry it was built from; ``standardize``: the training entry's steps;
    ``calibrations``: a classifier's, one per target (:func:`~dlbio.evaluate.calibration.fit_tasks`).
    """
    saved = _metadata(arch, task, targets, standardize, calibrations) | {
        "featurization_version": FEATURIZATION_VERSION,
        "atom_dim": ATOM_FEATURES,
        "bond_dim": BOND_FEATURES,
        "params": dict(params),
        "scaler_mean": scaler.mean.cpu(),
        "scaler_std": scaler.std.cpu(),
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
    }
    with atomic_write(path) as tmp:
        torch.save(saved, tmp)


def save_fingerprint_forest(path, forests, fingerprint, task, targets, standardize, calibrations=None):
    """Write forests from :func:`~dlbio.train.fingerprint_baseline.fit_forests` as plain arrays, atomically.

    ``fingerprint``: the ``baseline`` entry (``radius``, ``n_bits`` of the Morgan fingerprints); ``calibrations``
    as in :func:`save_molecule_model`.
    """
    fp = {"radius": int(fingerprint["radius"]), "n_bits": int(fingerprint["n_bits"])}
    metadata = _metadata(MOLECULE_BASELINE, task, targets, standardize, calibrations)
    save_forests(forests, path, metadata | {"fingerprint": fp})


def _check_metadata(saved, path, arch):
    """Fail naming ``path`` unless ``saved`` is a molecule model of this format (and of ``arch`` if given)."""
    found = saved.get("format") if isinstance(saved, dict) else None
    if found != MODEL_FORMAT:
        raise InputError(
            f"'{path}' is not a dlbio molecule model (format '{found}', expected '{MODEL_FORMAT}'); "
            "give a model.pt or model.npz written by molecule training"
        )
    if saved["format_version"] != MODEL_FORMAT_VERSION:
        raise InputError(
            f"'{path}' is a molecule model of format version {saved['format_version']}; this dlbio reads version "
            f"{MODEL_FORMAT_VERSION}: re-run the training job that wrote it"
        )
    if arch is not None and saved["arch"] != arch:
        raise InputError(f"'{path}' holds a '{saved['arch']}' model, expected '{arch}'")


def _load_gnn(path, device, arch, batch_size):
    from dlbio.models.molecule_gnn import build_molecule_model  # local: torch_geometric costs ~3 s to import
    from dlbio.train.molecule_gnn import TargetScaler, predict_molecules

    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a file it cannot read safely
        raise InputError(f"'{path}' is not a molecule model readable with weights_only=True: {err}") from None
    _check_metadata(saved, path, arch)
    if saved["featurization_version"] != FEATURIZATION_VERSION:
        raise InputError(
            f"'{path}' was trained on molecule features of version {saved['featurization_version']}; this dlbio "
            f"computes version {FEATURIZATION_VERSION}: re-run the training job that wrote it"
        )
    try:
        model = build_molecule_model(
            saved["arch"], saved["atom_dim"], saved["bond_dim"], len(saved["targets"]), saved["params"]
        )
        model.load_state_dict(saved["state_dict"])
    except (InputError, KeyError, RuntimeError) as err:
        raise InputError(f"'{path}': the weights do not fit a '{saved['arch']}' model: {err}") from None
    model = model.to(device).eval()
    scaler = TargetScaler.__new__(TargetScaler)  # the saved scaling, not one fitted to new targets
    scaler.mean, scaler.std = saved["scaler_mean"], saved["scaler_std"]
    task = saved["task"]

    def predict(graphs):
        return predict_molecules(model, graphs, scaler, task, device, batch_size)

    return saved, ("graphs",), predict


def _load_forest(path, arch):
    forests, saved = load_forests(path)
    _check_metadata(saved, path, arch)
    fp = saved["fingerprint"]
    return saved, ("morgan", fp["radius"], fp["n_bits"]), lambda fingerprints: predict_forests(forests, fingerprints)


def load_molecule_model(path, device, arch=None, batch_size=256):
    """A :class:`MoleculeModel` from a GNN ``.pt`` or a forest ``.npz`` file; ``arch``: the one expected, if known.

    A GNN predicts on ``device`` in batches of ``batch_size`` molecules.
    Errors name the file: missing, not a dlbio molecule model, another format version or featurisation,
    another architecture.
    """
    path = str(path)
    require_file(path, "model")
    if Path(path).suffix == ".npz":
        saved, features, predict = _load_forest(path, arch)
    else:
        saved, features, predict = _load_gnn(path, device, arch, batch_size)
    calibrations = None
    if saved["calibration"] is not None:
        calibrations = [
            ProbabilityCalibration(float(c["temperature"]), np.asarray(c["conformal_scores"], dtype=np.float64))
            for c in saved["calibration"]
        ]
        predict = _calibrated(predict, calibrations)
    targets = list(saved["targets"])
    return MoleculeModel(
        path, saved["arch"], saved["task"], targets, saved["standardize"], features, predict, calibrations
    )


def _calibrated(predict, calibrations):
    """``predict`` followed by the calibration of every target's probabilities."""
    return lambda features: calibrate_tasks(calibrations, predict(features))


# ---------------------------------------------------------------- reading a library in chunks


def _delimited_chunks(source, sep, smiles_column, id_column, id_required, chunk_size, key):
    try:
        header = list(pd.read_csv(source, sep=sep, dtype=str, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise InputError(f"'{source}' (config key '{key}') is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"'{source}' (config key '{key}') is not a readable table: {err}") from None
    id_column = choose_id_column(header, smiles_column, id_column, id_required, source, key)
    columns = [c for c in (smiles_column, id_column) if c]
    reader = pd.read_csv(source, sep=sep, dtype=str, keep_default_na=False, usecols=columns, chunksize=chunk_size)
    start = 0
    for frame in (f for f in reader if len(f)):
        ids = frame[id_column] if id_column else pd.Series(np.arange(start, start + len(frame)))
        start += len(frame)
        yield ids.astype(str).str.strip().to_numpy(), frame[smiles_column].astype(str).str.strip().to_numpy()


def _sdf_chunks(source, id_column, id_required, chunk_size, key):
    with rdBase.BlockLogs():
        try:
            supplier = Chem.SDMolSupplier(str(source))
            n = len(supplier) if Path(source).stat().st_size else 0
        except (OSError, RuntimeError) as err:
            raise InputError(f"'{source}' (config key '{key}') is not a readable SDF file: {err}") from None
        for start in range(0, n, chunk_size):
            records = [sdf_record(supplier, i) for i in range(start, min(start + chunk_size, n))]
            props = [mol.GetPropsAsDict(includePrivate=True) if mol is not None else {} for mol, _ in records]
            if start == 0 and id_column:  # the first chunk decides: the id property, or titles (indices)
                found = dict.fromkeys(p for record in props for p in record if not p.startswith("_"))
                id_column = choose_id_column(list(found), None, id_column, id_required, source, key, "property")
            names = [
                record.get(id_column) if id_column else str(record.get("_Name", "")).strip() or str(start + i)
                for i, record in enumerate(props)
            ]
            ids = ["" if name is None else str(name).strip() for name in names]
            yield np.array(ids, dtype=object), np.array([text for _, text in records], dtype=object)


def read_library_chunks(source, smiles_column, id_column, chunk_size, key="source", id_required=True):
    """``(ids, input SMILES)`` arrays of up to ``chunk_size`` rows of a CSV/TSV/SDF file, in file order.

    Column options as in training (:func:`~dlbio.data.molecules.reading.read_molecule_table`): ids from
    ``id_column``, else the 0-based row number (SDF: the record's title or index). A file without ``id_column``
    is an error when ``id_required``, else it gets row numbers, said in the log
    (:func:`~dlbio.data.molecule_library.choose_id_column`). ``key`` names the file's config key in errors.
    """
    source = str(source)
    require_file(source, key)
    kind = file_kind(source, key)
    if kind == "sdf":
        chunks = _sdf_chunks(source, id_column, id_required, chunk_size, key)
    else:
        chunks = _delimited_chunks(source, kind, smiles_column, id_column, id_required, chunk_size, key)
    empty = True
    for chunk in chunks:
        empty = False
        yield chunk
    if empty:
        raise InputError(f"'{source}' (config key '{key}') has no rows")


# ---------------------------------------------------------------- predicting


def _standardise(smiles, standardizer):
    """``(canonical SMILES, None)`` or ``("", reason)``: RDKit parse and standardisation, as in training."""
    mol, reason = parse_smiles(smiles)
    if mol is None:
        return "", reason
    try:
        return Chem.MolToSmiles(standardizer(mol)), None
    except Exception as err:  # noqa: BLE001 - RDKit raises many types; the row is rejected
        return "", f"standardisation failed: {err}"


def _featurize(kind, smiles, processes):
    if kind[0] == "graphs":
        return MoleculeGraphs(featurize_many(smiles, processes=processes))
    return morgan_fingerprints(smiles, kind[1], kind[2])


@dataclass
class TrainingSet:
    """The training molecules a library is compared with: their ``ids`` and Morgan fingerprint ``bits`` of the
    ``features`` kind ``("morgan", radius, n_bits)`` (the baseline's)."""

    ids: np.ndarray
    bits: np.ndarray
    features: tuple

    @classmethod
    def from_table(cls, path, radius, n_bits, resplit=False):
        """The ``train`` molecules of a prepared ``molecules.tsv`` (with ``resplit`` every molecule: each replicate
        drew its own training set from them)."""
        table = pd.read_csv(path, sep="\t", dtype={"id": str, "smiles": str, "split": str})
        train = table if resplit else table[table["split"] == "train"]
        if train.empty:
            raise InputError(f"'{path}' has no training molecules; re-run molecules_prepare")
        kind = ("morgan", int(radius), int(n_bits))
        return cls(train["id"].to_numpy(), _featurize(kind, list(train["smiles"]), None), kind)


def check_models(models):
    """Fail unless every model standardises alike and the replicates of a name predict the same targets."""
    everything = [m for replicates in models.values() for m in replicates]
    if not everything:
        raise InputError("no models to predict with")
    first = everything[0]
    for m in everything[1:]:
        if m.standardize != first.standardize:
            raise InputError(
                f"'{m.path}' standardises molecules with {m.standardize} but '{first.path}' with "
                f"{first.standardize}; predict with models of one molecules entry"
            )
    for name, replicates in models.items():
        for m in replicates[1:]:
            if (m.task, m.targets, m.features) != (replicates[0].task, replicates[0].targets, replicates[0].features):
                raise InputError(
                    f"model '{name}': replicate '{m.path}' ({m.task}, targets {m.targets}) differs from "
                    f"'{replicates[0].path}' ({replicates[0].task}, targets {replicates[0].targets})"
                )


def check_calibrations(models, calibrations):
    """Fail unless every regression model and target has an interval calibration and no classification model has."""
    for name, replicates in models.items():
        m = replicates[0]
        for t in m.targets:
            if m.task == "classification" and (name, t) in calibrations:
                raise InputError(
                    f"model '{name}' ({m.path}) classifies '{t}': intervals are for regression targets; "
                    "a classification entry takes no interval_level"
                )
            if m.task == "regression" and (name, t) not in calibrations:
                raise InputError(f"no interval calibration of model '{name}', target '{t}' ({m.path})")


def prediction_columns(models, intervals=False, similarity=False, sets=False):
    """Output columns after ``id``, ``input_smiles``, ``smiles``: ``similarity``, ``nearest_id`` (with
    ``similarity``), then ``<name>/<target>`` (+ ``/std`` for replicates, + ``/lower``, ``/upper`` for regression
    with ``intervals``, + ``/prediction_set`` for classification with ``sets``)."""
    columns = ["similarity", "nearest_id"] if similarity else []
    for name, replicates in models.items():
        bounds = intervals and replicates[0].task == "regression"
        classes = sets and replicates[0].task == "classification"
        for t in replicates[0].targets:
            columns += [f"{name}/{t}"] + ([f"{name}/{t}/std"] if len(replicates) > 1 else [])
            columns += [f"{name}/{t}/lower", f"{name}/{t}/upper"] if bounds else []
            columns += [f"{name}/{t}/prediction_set"] if classes else []
    return columns


def prediction_sets(replicates, runs, target, level):
    """The conformal prediction sets (``"0"``, ``"1"`` or ``"0|1"``) at ``level`` of one target (index) of
    a classifier's replicates, from their calibrated probabilities of class 1 ``runs`` ``(R, M)``: a class is in
    the set when it is in any replicate's set (each covers the level on its own, so their union does too)."""
    members = np.zeros((runs.shape[1], 2), dtype=bool)
    for model, p in zip(replicates, runs):
        members |= model.calibrations[target].sets(two_class(p), level)
    return set_labels(members, [0, 1])


def iter_predictions(
    source,
    smiles_column,
    id_column,
    models,
    chunk_size=10_000,
    processes=None,
    key="source",
    id_required=True,
    calibrations=None,
    training=None,
    set_level=None,
):
    """Predict a library chunk by chunk: yields ``(predictions, rejected)`` tables per chunk.

    ``models``: ``{name: [MoleculeModel, ...]}``, several files of one name being replicates. ``predictions``
    has ``id``, ``input_smiles``, ``smiles`` (canonical, standardised) and :func:`prediction_columns`: the
    value or calibrated probability of class 1, averaged over replicates, with their standard deviation (ddof 1);
    with ``set_level`` every classifier's conformal prediction set (:func:`prediction_sets`; a level outside (0, 1)
    is an error naming the ``set_level`` key beside the library's ``key``, e.g. ``molecules.<name>.set_level``);
    with ``calibrations`` (``{(name, target): Calibration}``, every regression model's) the conformal interval
    ``lower``–``upper``; with ``training`` (a :class:`TrainingSet`) each molecule's highest Tanimoto
    ``similarity`` to the training molecules and that molecule's id (``nearest_id``).
    ``rejected`` has ``id``, ``input_smiles``, ``reason``. Featurisation uses ``processes`` workers. Ids as in
    :func:`read_library_chunks`.
    """
    check_models(models)
    if calibrations is not None:
        check_calibrations(models, calibrations)
    standardizer = Standardizer(next(iter(models.values()))[0].standardize)
    if set_level is not None:
        check_level(set_level, f"{key.rsplit('.', 1)[0]}.set_level")
    columns = prediction_columns(models, calibrations is not None, training is not None, set_level is not None)
    for ids, smiles in read_library_chunks(source, smiles_column, id_column, chunk_size, key, id_required):
        canonical, reasons = zip(*(_standardise(s, standardizer) for s in smiles))
        bad = np.array([r is not None for r in reasons])
        rejected = pd.DataFrame({"id": ids[bad], "input_smiles": smiles[bad], "reason": np.array(reasons)[bad]})
        kept = np.array(canonical, dtype=object)[~bad]
        table = pd.DataFrame({"id": ids[~bad], "input_smiles": smiles[~bad], "smiles": kept})
        values = {}
        if len(kept):
            features = {}
            for name, replicates in models.items():
                kind = replicates[0].features
                if kind not in features:
                    features[kind] = _featurize(kind, list(kept), processes)
                runs = np.stack([m.predict(features[kind]) for m in replicates])  # (R, M, T)
                for i, t in enumerate(replicates[0].targets):
                    values[f"{name}/{t}"] = runs[:, :, i].mean(0)
                    spread = runs[:, :, i].std(0, ddof=1) if len(replicates) > 1 else None
                    if spread is not None:
                        values[f"{name}/{t}/std"] = spread
                    if calibrations is not None and replicates[0].task == "regression":
                        half = calibrations[(name, t)].half_width(spread if spread is not None else np.zeros(len(kept)))
                        values[f"{name}/{t}/lower"] = values[f"{name}/{t}"] - half
                        values[f"{name}/{t}/upper"] = values[f"{name}/{t}"] + half
                    if set_level is not None and replicates[0].task == "classification":
                        values[f"{name}/{t}/prediction_set"] = prediction_sets(replicates, runs[:, :, i], i, set_level)
            if training is not None:
                if training.features not in features:
                    features[training.features] = _featurize(training.features, list(kept), processes)
                similarity, nearest = nearest_training(features[training.features], training.bits)
                values |= {"similarity": similarity, "nearest_id": training.ids[nearest]}
        yield table.assign(**{c: values.get(c, np.zeros(0)) for c in columns}), rejected


def predict_library(
    source,
    smiles_column,
    id_column,
    models,
    predictions_path,
    rejected_path,
    chunk_size=10_000,
    processes=None,
    key="source",
    id_required=True,
    calibrations=None,
    training=None,
    set_level=None,
):
    """Write a library's predictions and rejected rows as TSV files (see :func:`iter_predictions`), atomically.

    Returns ``(n_predicted, n_rejected)``.
    """
    n_predicted = n_rejected = 0
    chunks = iter_predictions(
        source,
        smiles_column,
        id_column,
        models,
        chunk_size,
        processes,
        key,
        id_required,
        calibrations,
        training,
        set_level,
    )
    with (
        atomic_write(predictions_path) as pred_tmp,
        atomic_write(rejected_path) as rej_tmp,
        open(pred_tmp, "w") as pred_out,
        open(rej_tmp, "w") as rej_out,
    ):
        for i, (predicted, rejected) in enumerate(chunks):
            predicted.to_csv(pred_out, sep="\t", index=False, header=i == 0, float_format=FLOAT_FORMAT)
            rejected.to_csv(rej_out, sep="\t", index=False, header=i == 0)
            n_predicted, n_rejected = n_predicted + len(predicted), n_rejected + len(rejected)
            log.info("%s: %d molecules predicted, %d rejected", source, n_predicted, n_rejected)
    return n_predicted, n_rejected
