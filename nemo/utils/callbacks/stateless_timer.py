"""`StatelessTimer`: stop a run after a wall-clock budget, saving the last checkpoint first.

Unlike Lightning's `Timer`, the elapsed time is not stored in checkpoints, so every (resumed) run
gets the whole budget: `max_time_per_run`.
"""

from typing import Any, Dict

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint, Timer

__all__ = ["StatelessTimer"]


class StatelessTimer(Timer):
    """A `Timer` with no checkpoint state that writes `-last.ckpt` when it stops training."""

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        return

    def _check_time_remaining(self, trainer: "pl.Trainer") -> None:
        super()._check_time_remaining(trainer)
        if not trainer.should_stop:
            return
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.save_last:
                callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))
