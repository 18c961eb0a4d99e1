"""`ResumeConfigDiff`: when training resumes from a checkpoint, log how the config changed since it was written."""

from typing import Any, Dict, List

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from nemo.utils import logging

__all__ = ["ResumeConfigDiff", "config_diff"]


def _flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, dict):
        flat: Dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def config_diff(old: Any, new: Any) -> List[str]:
    """Lines `key: old -> new` (or `+key: new`, `-key: old`) for every dotted key that differs."""
    before, after = _flatten(dict(old or {})), _flatten(dict(new or {}))
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            lines.append(f"-{key}: {before[key]!r}")
        elif key not in before:
            lines.append(f"+{key}: {after[key]!r}")
        elif before[key] != after[key]:
            lines.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    return lines


class ResumeConfigDiff(Callback):
    """Compare the hyper-parameters stored in the checkpoint with the model's current ones."""

    def __init__(self):
        self.last_diff: List[str] = []

    def on_load_checkpoint(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", checkpoint: Dict[str, Any]) -> None:
        stored = checkpoint.get("hyper_parameters")
        if stored is None:
            return
        self.last_diff = config_diff(stored, pl_module.hparams)
        if self.last_diff:
            logging.warning("Config differs from the checkpoint being resumed:\n  " + "\n  ".join(self.last_diff))
        else:
            logging.info("Config is the same as in the checkpoint being resumed.")
