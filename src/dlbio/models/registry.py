"""The members of every model family, by name, without torch: the workflow reads them when it is parsed.

A family's model module registers one builder per name (``@FAMILY.register(name)``); the rules' wildcards, the
augmentation checks and the baselines' result folders use the names here; tests hold the schema's choices, the
docs and the registered builders equal to them.
"""

from importlib import import_module

from dlbio.errors import InputError


class Registry:
    """The names of one model family and each name's builder, registered by the family's model ``module``."""

    def __init__(self, family, module, *names):
        self.family, self.module, self.names, self.builders = family, module, names, {}

    def __iter__(self):
        return iter(self.names)

    def register(self, name):
        """Decorator: ``name``'s builder (a class or function)."""
        if name not in self.names:
            raise ValueError(f"'{name}' is not a {self.family} of dlbio.models.registry")

        def add(builder):
            self.builders[name] = builder
            return builder

        return add

    def __getitem__(self, name):
        """The builder of ``name`` (importing the model module); an unknown name fails naming the family's names."""
        if name not in self.names:
            raise InputError(f"unknown {self.family} '{name}'; choose from {', '.join(self.names)}")
        import_module(self.module)
        return self.builders[name]


CELL_GNNS = Registry("cell GNN", "dlbio.models.cell_gnn", "gcn", "sage", "gat")
# gnn settings that one cell GNN alone reads: the other models' jobs never receive them, so changing one reruns
# only that model (a new GNN with a hyperparameter of its own: its name here, its builder, its schema key)
CELL_GNN_OWN_SETTINGS = {"gat": ("heads",)}


def cell_gnn_settings(model, gnn):
    """The dataset's ``gnn`` settings that cell GNN ``model`` reads: all but the other models' own settings."""
    others = {key for name, keys in CELL_GNN_OWN_SETTINGS.items() if name != model for key in keys}
    return {key: value for key, value in gnn.items() if key not in others}


MOLECULE_MODELS = Registry("molecule model", "dlbio.models.molecule_gnn", "gine", "mpnn", "attentivefp", "dmpnn")
GAN_ARCHS = Registry("GAN architecture", "dlbio.models.dcgan", "dcgan", "dcgan-separable", "dcgan-starshaped")
CLASS_AWARE_GAN_ARCHS = ("dcgan-starshaped",)  # one generator output per class; the others pool their classes
MOTIF_ARCHS = Registry("motif GAN architecture", "dlbio.models.conv1d_gan", "reference", "pooled")
CELL_BASELINE = "logreg"  # dlbio.train.cell_baseline: beside every cell GNN
MOLECULE_BASELINE = "fp_rf"  # dlbio.train.fingerprint_baseline: beside every molecule model
