"""Config checks of the augmentation experiments, run when the workflow is parsed (no heavy imports)."""

from dlbio.errors import InputError
from dlbio.models.registry import CLASS_AWARE_GAN_ARCHS


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
