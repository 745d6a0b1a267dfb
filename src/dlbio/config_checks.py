"""Every check of a config made when the workflow is parsed, before any job starts: :func:`check_config`, called
once by the Snakefile after the schema has validated the config (and filled in its defaults).

A missing file, a run naming an unknown dataset, a bad motif or a library without its SMILES column stops the
workflow with an :class:`~dlbio.errors.InputError` that names the config key or the file. The rules read
:func:`cells_queries`, :func:`molecule_libraries` and :func:`images_classify_sets` for their targets, so a
target and its check never disagree.

Torch-free on purpose (the Snakefile imports it): the standard library, :mod:`dlbio.errors`, the registry's names,
:mod:`dlbio.data.molecule_library` (the header check shared with the predicting job) and
:mod:`dlbio.data.motifs`' constants (numpy).
"""

from pathlib import Path

from dlbio.data.molecule_library import BUILTIN_PREFIX as MOLECULE_BUILTIN_PREFIX
from dlbio.data.molecule_library import check_library, library_spec
from dlbio.data.motifs import POOLED_KERNEL
from dlbio.errors import InputError, require_file
from dlbio.models.registry import CLASS_AWARE_GAN_ARCHS

CELLS_BUILTIN_PREFIX = "scanpy:"  # dlbio.data.cells.BUILTIN_PREFIX (that module imports scanpy)
FRACTION_TOLERANCE = 1e-6


def local_files(source, builtin_prefix):
    """``[source]``, or ``[]`` for a built-in data set (``source`` starting with ``builtin_prefix``)."""
    return [] if source.startswith(builtin_prefix) else [source]


def check_config(config):
    """Fail before any job starts when a configured input is missing or an entry contradicts another."""
    for name, entry in config["cells"].items():
        for source in local_files(entry["h5ad"], CELLS_BUILTIN_PREFIX):
            require_file(source, f"cells.{name}.h5ad")
    for name, entry in config["images"].items():
        if entry["folder"] and entry["manifest"]:
            raise InputError(f"images.{name}: set either 'folder' or 'manifest', not both")
        if entry["manifest"]:
            require_file(entry["manifest"], f"images.{name}.manifest")
        folder = entry["folder"]
        if folder and not any(Path(p).is_dir() for p in (folder, f"{folder}_train")):
            raise InputError(f"config key 'images.{name}.folder': folder '{folder}' does not exist")
    for name, entry in config["molecules"].items():
        for source in local_files(entry["source"], MOLECULE_BUILTIN_PREFIX):
            require_file(source, f"molecules.{name}.source")
        key = f"molecules.{name}.predict"
        for library in molecule_libraries(config, name).values():
            check_library(library, key, entry["predict_chunk_size"])
        if entry["split"]["test_file"]:
            require_file(entry["split"]["test_file"], f"molecules.{name}.split.test_file")
        if entry["task"] == "classification" and entry["interval_level"] is not None:
            raise InputError(
                f"config key 'molecules.{name}.interval_level' = {entry['interval_level']}: intervals are for "
                "regression targets and this entry's task is classification; remove the key (or set it to null)"
            )
        if entry["task"] == "regression" and entry["set_level"] is not None:
            raise InputError(
                f"config key 'molecules.{name}.set_level' = {entry['set_level']}: prediction sets are for "
                "classification and this entry's task is regression; remove the key (or set it to null)"
            )
    for name, run in config["gan"].items():
        if run["dataset"] not in config["images"]:
            raise InputError(
                f"config key 'gan.{name}.dataset': '{run['dataset']}' is not an images entry; "
                f"known: {', '.join(config['images']) or 'none'}"
            )
    for name, experiment in config["augment_cells"].items():
        if experiment["dataset"] not in config["cells"]:
            raise InputError(
                f"config key 'augment_cells.{name}.dataset': '{experiment['dataset']}' is not a cells entry; "
                f"known: {', '.join(config['cells']) or 'none'}"
            )
    for name, experiment in config["motifs"].items():
        check_motif_experiment(experiment, f"motifs.{name}")
    for dataset in config["cells"]:
        cells_queries(config, dataset)
    for dataset in config["images"]:
        images_classify_sets(config, dataset)
    check_image_experiments(config)


def cells_queries(config, dataset):
    """Query name (the file's stem, or the built-in's name) → source of every ``query.h5ad`` of a cells entry."""
    sources = config["cells"][dataset]["query"]["h5ad"]
    names = {Path(source.removeprefix(CELLS_BUILTIN_PREFIX)).stem: source for source in sources}
    if len(names) < len(sources):
        raise InputError(f"config key 'cells.{dataset}.query.h5ad': two query files share a name: {sources}")
    return names


def molecule_libraries(config, dataset):
    """``{library: spec}`` of ``molecules.<dataset>.predict`` (dlbio.data.molecule_library.library_spec: the
    file or rdkit:<name> and its columns), named by the file's stem (a built-in's name); a missing file or two
    libraries of one name stop the workflow naming the key.
    """
    key, libraries = f"molecules.{dataset}.predict", {}
    entry = config["molecules"][dataset]
    for item in entry["predict"]:
        spec = library_spec(item, entry)
        source = spec["source"]
        if source.startswith(MOLECULE_BUILTIN_PREFIX):
            name = source[len(MOLECULE_BUILTIN_PREFIX) :]
        else:
            require_file(source, key)
            name = Path(source).stem
        if name in libraries:
            raise InputError(
                f"config key '{key}': '{libraries[name]['source']}' and '{source}' are both named '{name}' "
                f"(results/molecules/{dataset}/predict/{name}/); rename one of the files"
            )
        libraries[name] = spec
    return libraries


def molecules_calibrated(config, dataset):
    """Whether a molecules entry gets conformal intervals: a regression entry with an ``interval_level``."""
    entry = config["molecules"][dataset]
    return entry["task"] == "regression" and entry["interval_level"] is not None


def molecule_library(config, dataset, library):
    """The ``predict`` item (its spec: a file or ``rdkit:<name>`` and its columns) named ``library``."""
    libraries = molecule_libraries(config, dataset)
    if library not in libraries:
        raise InputError(
            f"'{library}' is not a library of config key 'molecules.{dataset}.predict'; "
            f"known: {', '.join(libraries) or 'none'}"
        )
    return libraries[library]


def images_classify_sets(config, dataset):
    """``images.<dataset>.classify``, each set checked: exactly one of folder, manifest, split; files exist."""
    sets = config["images"][dataset]["classify"]
    for name, spec in sets.items():
        key = f"images.{dataset}.classify.{name}"
        given = [k for k in ("folder", "manifest", "split") if spec[k] is not None]
        if len(given) != 1:
            raise InputError(
                f"config key '{key}': give exactly one of folder, manifest or split; "
                f"given: {', '.join(given) or 'none'}"
            )
        if spec["manifest"]:
            require_file(spec["manifest"], f"{key}.manifest")
        if spec["folder"] and not Path(spec["folder"]).is_dir():
            raise InputError(f"config key '{key}.folder': folder '{spec['folder']}' does not exist")
    return sets


def check_motif_modes(modes, length, key):
    """Fail naming ``key`` unless the modes are distinct binary motifs that fit, with fractions summing to 1."""
    if not modes:
        raise InputError(f"config key '{key}.modes': give at least one mode (motif and fraction)")
    for i, mode in enumerate(modes):
        motif = mode["motif"]
        if not motif or set(motif) - {"0", "1"}:
            raise InputError(f"config key '{key}.modes[{i}].motif': '{motif}' is not a binary motif (only 0 and 1)")
        if len(motif) > length:
            raise InputError(
                f"config key '{key}.modes[{i}].motif': motif of length {len(motif)} is longer than "
                f"the sequences ('{key}.length' = {length})"
            )
        if not 0 < mode["fraction"] <= 1:
            raise InputError(f"config key '{key}.modes[{i}].fraction': {mode['fraction']} is not in (0, 1]")
    motifs = [mode["motif"] for mode in modes]
    if len(set(motifs)) < len(motifs):
        raise InputError(f"config key '{key}.modes': motifs must be distinct, got {motifs}")
    total = sum(mode["fraction"] for mode in modes)
    if abs(total - 1) > FRACTION_TOLERANCE:
        raise InputError(f"config key '{key}.modes': the fractions must sum to 1, they sum to {total:g}")


def check_motif_experiment(experiment, key):
    """:func:`check_motif_modes`, and the critic's kernel must fit in the sequences (with the pooled critic's second
    convolution, :data:`dlbio.data.motifs.POOLED_KERNEL` − 1 positions more)."""
    check_motif_modes(experiment["modes"], experiment["length"], key)
    span = experiment["kernel"] + (POOLED_KERNEL - 1 if experiment["arch"] == "pooled" else 0)
    if span > experiment["length"]:
        raise InputError(
            f"config key '{key}.kernel': {experiment['kernel']} is too long for the sequences "
            f"('{key}.length' = {experiment['length']}; the {experiment['arch']} critic needs {span})"
        )


def check_image_experiments(config):
    """Every ``augment_images`` entry must name a ``gan`` run whose generator has one output per class."""
    for name, entry in config["augment_images"].items():
        key, run_name = f"augment_images.{name}.gan_run", entry["gan_run"]
        run = config["gan"].get(run_name)
        if run is None:
            raise InputError(
                f"config key '{key}': '{run_name}' is not a gan run; known: {', '.join(config['gan']) or 'none'}"
            )
        if run["arch"] not in CLASS_AWARE_GAN_ARCHS:
            raise InputError(
                f"config key '{key}': run '{run_name}' has arch '{run['arch']}', whose generator pools its classes "
                "into one output; the experiment needs a class-aware generator (arch "
                f"{' or '.join(map(repr, CLASS_AWARE_GAN_ARCHS))}: one output per class)"
            )
        if run["classes"] is not None and len(run["classes"]) < 2:
            raise InputError(
                f"config key '{key}': run '{run_name}' is trained on one class ({run['classes']}); "
                "a classifier needs at least two"
            )
