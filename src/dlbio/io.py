"""File formats shared by every stage: tensor stores, flat metrics JSON, script logs."""

import json
import logging
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path


def save_tensors(tensors, path):
    """Write a dict of tensors; load it back with :func:`load_tensors` (no pickled objects)."""
    import torch  # here, not at the top: most jobs read only JSON and tables, and torch costs ~2 s to import

    torch.save({name: t.contiguous() for name, t in tensors.items()}, path)


def load_tensors(path):
    """Read a dict of tensors written by :func:`save_tensors`, never running code from it."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


@contextmanager
def atomic_write(path):
    """A temporary path to write ``path``'s content to, moved onto ``path`` only when the block succeeds: a job
    killed or failing mid-write never leaves a truncated ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(data, path):
    """Write a flat dict as indented JSON."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


def log_to(path):
    """Send logging and stderr (tqdm progress, warnings) of a workflow script to its log file.

    An error that ends the script is written in full to the log and, as its message, to the terminal
    (the job's own stderr), so that it is read where the workflow runs, not only in the log.
    """
    stream = open(path, "w", buffering=1)
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(message)s", force=True)

    def report(kind, error, tb):
        traceback.print_exception(kind, error, tb, file=stream)
        print(f"{kind.__name__}: {error}\n(full log: {path})", file=sys.__stderr__, flush=True)

    sys.excepthook = report
