"""`AtomicCheckpointIO`: write each checkpoint to a writer-private hidden temporary file, then `os.replace` it.

A process killed mid-write leaves only its hidden temporary file, which resume never picks up and the
next writer of that checkpoint removes; two jobs writing one checkpoint path publish one whole file.
"""

import os
from typing import Any, Dict, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

__all__ = ["AtomicCheckpointIO", "atomic_torch_save"]


def atomic_torch_save(obj: Any, path: "os.PathLike | str") -> None:
    """`torch.save(obj, path)` that never leaves a partial file at `path`, even with concurrent writers."""
    from nemo.utils.atomic_file import atomic_write

    with atomic_write(path) as f:
        torch.save(obj, f)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint I/O with atomic local writes; local checkpoints load weights-only, NeMo's
    pickled configs included (so a run can resume from a checkpoint NVIDIA NeMo wrote)."""

    def load_checkpoint(self, path: Any, map_location: Optional[Any] = None, weights_only: Optional[bool] = None):
        if "://" in str(path) or weights_only is False:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        from nemo.utils.safe_load import checkpoint_globals

        with checkpoint_globals(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)
