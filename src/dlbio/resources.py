"""What a job asks of the machine, from the size of its input (read without loading it: the workflow imports
this module, so it stays light)."""

from pathlib import Path

import h5py


def matrix_megabytes(path):
    """Megabytes the expression matrix of the .h5ad at ``path`` takes in memory (stored values, and indices
    when sparse), read from its header only; the file's size for other or unreadable files (the job itself then
    names the problem), 0 for a missing one."""
    path = Path(path)
    if not path.is_file():
        return 0.0
    try:
        with h5py.File(path, "r") as handle:
            x = handle["X"]
            if isinstance(x, h5py.Dataset):
                return x.size * x.dtype.itemsize / 1e6
            return sum(x[name].size * x[name].dtype.itemsize for name in ("data", "indices", "indptr")) / 1e6
    except (OSError, KeyError):
        return path.stat().st_size / 1e6
