"""`AtomicCheckpointIO`: write each checkpoint to `.name.tmp` beside the target, then `os.replace` it.

A process killed mid-write leaves only the hidden temporary file, which resume never picks up.
"""

import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

__all__ = ["AtomicCheckpointIO", "atomic_torch_save"]


def atomic_torch_save(obj: Any, path: "os.PathLike | str") -> None:
    """`torch.save(obj, path)` that never leaves a partial file at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
