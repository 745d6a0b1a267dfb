"""Training of the (denoising) cell autoencoder on sparse or dense expression, its embedding, its .npz arrays.

Cells are densified one mini-batch at a time, so memory stays bounded however many cells there are. The
loss is the squared error of the reconstructed input times the model's ``gene_scale`` (see
:class:`dlbio.models.autoencoder.Autoencoder`): on unit-variance genes, the genes' standard deviations there
make the net reconstruct log-normalised expression, so the few informative genes outweigh the many that
carry only noise.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlbio.errors import InputError
from dlbio.figures import plt
from dlbio.models.autoencoder import Autoencoder
from dlbio.train.early_stopping import EarlyStopping

PREFIX = "ae_"  # keys of the autoencoder's arrays inside a shared .npz
SIZES = ("n_genes", "hidden", "latent")


def _matrix(x):
    """``x`` as a CSR matrix or a dense array, checked to be a non-empty cells × genes table."""
    x = x.tocsr() if sp.issparse(x) else np.asarray(x)
    if x.ndim != 2 or 0 in x.shape:
        raise InputError(f"expression matrix of shape {x.shape}: expected cells × genes with at least one of each")
    return x


def _batches(x, idx, size, device):
    """Rows ``idx`` of ``x``, ``size`` at a time, as dense float32 tensors on ``device``."""
    for start in range(0, len(idx), size):
        rows = x[idx[start : start + size]]
        rows = rows.toarray() if sp.issparse(rows) else rows
        yield torch.from_numpy(np.asarray(rows, dtype=np.float32)).to(device)


@torch.no_grad()
def _loss(model, x, idx, size, device):
    """Mean squared reconstruction error of the clean rows ``idx``."""
    model.eval()
    batches = _batches(x, idx, size, device)
    total = sum(F.mse_loss(model(b), model.target(b), reduction="sum").item() for b in batches)
    return total / (len(idx) * x.shape[1])


def fit_autoencoder(x, settings, device, seed, gene_scale=None):
    """Train an :class:`Autoencoder` on cells × genes ``x`` (CSR or dense); keep the best validation epoch's weights.

    ``settings``: hidden, latent, noise (fraction of inputs zeroed in training; 0: no denoising), lr,
    weight_decay, batch_size, max_epochs, patience, val_fraction (cells held out for early stopping).
    ``gene_scale``: per-gene factors the model applies to its input (``None``: 1), e.g. the scaling's stds.
    Returns the model (on CPU, in eval mode) and a per-epoch history table.
    """
    x, device = _matrix(x), torch.device(device)
    noise, n_cells = settings["noise"], x.shape[0]
    if not 0 <= noise < 1:
        raise InputError(f"autoencoder noise {noise}: expected a fraction in [0, 1)")
    n_val = round(settings["val_fraction"] * n_cells)
    if not 0 < n_val < n_cells:
        raise InputError(
            f"val_fraction {settings['val_fraction']} of {n_cells} cells leaves no training or validation cells"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_cells)
    val, train = np.sort(order[:n_val]), order[n_val:]
    torch.manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed)
    if gene_scale is not None and np.shape(gene_scale) != (x.shape[1],):
        raise InputError(f"gene_scale of shape {np.shape(gene_scale)}: expected one factor per gene ({x.shape[1]})")
    model = Autoencoder(x.shape[1], settings["hidden"], settings["latent"], gene_scale).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    stopper, history = EarlyStopping(model, settings["patience"]), []
    for epoch in tqdm(range(1, settings["max_epochs"] + 1), desc="train autoencoder", mininterval=5):
        model.train()
        total = torch.zeros((), device=device)
        for batch in _batches(x, rng.permutation(train), settings["batch_size"], device):
            keep = torch.rand(batch.shape, generator=noise_gen, device=device) >= noise
            loss = F.mse_loss(model(batch * keep), model.target(batch))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)
        val_loss = _loss(model, x, val, settings["batch_size"], device)
        history.append({"epoch": epoch, "train_loss": total.item() / len(train), "val_loss": val_loss})
        if stopper.step(epoch, val_loss):
            break
    stopper.restore("autoencoder", epoch)
    return model.cpu().eval(), pd.DataFrame(history)


@torch.no_grad()
def encode(model, x, device, chunk=16384):
    """The bottleneck of every row of ``x`` (CSR or dense) as a float32 array, ``chunk`` cells at a time.

    ``model`` is moved to ``device``.
    """
    x = _matrix(x)
    if x.shape[1] != model.n_genes:
        raise InputError(f"expression matrix has {x.shape[1]} genes; the autoencoder was trained on {model.n_genes}")
    model = model.to(device).eval()
    parts = [model.encode(b).cpu().numpy() for b in _batches(x, np.arange(x.shape[0]), chunk, torch.device(device))]
    return np.concatenate(parts)


def autoencoder_arrays(model):
    """``model``'s weights and sizes as numpy arrays under ``ae_`` keys, to store in a pickle-free .npz."""
    arrays = {PREFIX + name.replace(".", "_"): t.detach().cpu().numpy() for name, t in model.state_dict().items()}
    return arrays | {PREFIX + size: np.int64(getattr(model, size)) for size in SIZES}


def autoencoder_from_arrays(arrays):
    """The model (CPU, eval mode) rebuilt from the ``ae_`` keys of :func:`autoencoder_arrays` in ``arrays``.

    Arrays without ``ae_gene_scale`` (written before the model had one) give a model with ``gene_scale`` 1: it
    was trained on its input as given."""
    missing = [PREFIX + size for size in SIZES if PREFIX + size not in arrays]
    if missing:
        raise InputError(f"no autoencoder in the arrays: missing {', '.join(missing)}")
    model = Autoencoder(*(int(arrays[PREFIX + size]) for size in SIZES))
    keys = {name: PREFIX + name.replace(".", "_") for name in model.state_dict()}
    state = {}
    if PREFIX + "gene_scale" not in arrays:  # stored before the model had one: it read its input as given
        state["gene_scale"] = model.gene_scale
        del keys["gene_scale"]
    missing = [key for key in keys.values() if key not in arrays]
    if missing:
        raise InputError(f"autoencoder arrays incomplete: missing {', '.join(missing)}")
    try:
        model.load_state_dict(state | {name: torch.tensor(np.asarray(arrays[key])) for name, key in keys.items()})
    except RuntimeError as err:
        raise InputError(f"autoencoder arrays do not fit their sizes: {err}") from err
    return model.eval()


def plot_autoencoder_history(history, path, title):
    """Training and validation reconstruction loss per epoch (log scale) as an image at ``path``."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history["epoch"], history["train_loss"], label="train (noised input)")
    ax.plot(history["epoch"], history["val_loss"], label="validation")
    ax.set(xlabel="epoch", ylabel="reconstruction MSE", yscale="log", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
