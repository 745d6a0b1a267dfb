"""Errors for bad user input, importable without the heavy libraries (the Snakefile uses it)."""

from pathlib import Path


class InputError(ValueError):
    """Bad user input; the message names the file or config key and what was expected."""


def require_file(path, key):
    """Fail with a message naming the config ``key`` unless ``path`` is an existing file."""
    if not Path(path).is_file():
        raise InputError(f"config key '{key}': file '{path}' does not exist")


def too_few(counts, need):
    """The entries of ``counts`` (name → count, e.g. a ``value_counts()``) below ``need``, listed as
    ``'name' (count), ...`` for an error message; empty when none is."""
    return ", ".join(f"'{name}' ({count})" for name, count in counts.items() if count < need)
