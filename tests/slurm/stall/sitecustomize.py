"""Test hook for tests/test_slurm.py: the first GAN training of a run stalls after its first checkpoint.

Put this folder on PYTHONPATH and name a marker file in DLBIO_TEST_STALL_MARKER (the SLURM plugin exports the
controller's environment to every job); every Python process then imports this module at startup. When
``dlbio.train.gan`` is imported, ``GANTrainer`` is patched: the first training to start (the marker does not exist
yet; it is created then) sleeps right after writing its first checkpoint until SLURM kills it at its time limit, as
if it had far more work than its limit allows, on a machine of any speed. Every later training (the retry, which
resumes from that checkpoint) runs normally to the end. Without DLBIO_TEST_STALL_MARKER nothing is patched.
"""

import importlib.abc
import logging
import os
import sys
import time
from pathlib import Path


def _stall_first_training(trainer, marker):
    resume, save_checkpoint = trainer.resume, trainer.save_checkpoint

    def resume_and_note(self):
        self.stall_after_checkpoint = not marker.exists()
        marker.touch()
        return resume(self)

    def save_checkpoint_and_stall(self):
        save_checkpoint(self)
        if getattr(self, "stall_after_checkpoint", False):
            message = f"test hook: stalling after the checkpoint at iteration {self.iteration} until the time limit"
            logging.getLogger("dlbio.train.gan").warning(message)  # the script's log, rewritten by the retry
            print(message, file=sys.__stderr__, flush=True)  # the job's own SLURM log, which is kept
            while True:
                time.sleep(3600)

    trainer.resume, trainer.save_checkpoint = resume_and_note, save_checkpoint_and_stall


class _PatchGANTrainer(importlib.abc.MetaPathFinder):
    """Finds ``dlbio.train.gan`` with the other finders and patches it once it has been executed."""

    def __init__(self, marker):
        self.marker = marker

    def find_spec(self, name, path, target=None):
        if name != "dlbio.train.gan":
            return None
        others = (f for f in sys.meta_path if f is not self and hasattr(f, "find_spec"))
        spec = next((s for s in (f.find_spec(name, path, target) for f in others) if s is not None), None)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _stall_first_training(module.GANTrainer, self.marker)

        spec.loader.exec_module = exec_and_patch
        return spec


if os.environ.get("DLBIO_TEST_STALL_MARKER"):
    sys.meta_path.insert(0, _PatchGANTrainer(Path(os.environ["DLBIO_TEST_STALL_MARKER"])))
