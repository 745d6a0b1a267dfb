"""Pick the torch device: one code path for CPU and CUDA."""

import torch


def resolve_device(name="auto"):
    """``auto`` gives CUDA when present, else CPU; any other name is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
