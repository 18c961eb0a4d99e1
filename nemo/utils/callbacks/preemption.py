"""`PreemptionCallback`: when the job gets SIGTERM (cluster preemption), write the last checkpoint before exiting.

Lightning's own SIGTERM handler records the signal and ends `fit` after the current step; this callback saves
`-last.ckpt` at the end of that step on every rank, so a restart with `resume_if_exists` continues from it.
"""

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from nemo.utils import logging

__all__ = ["PreemptionCallback"]


class PreemptionCallback(Callback):
    def __init__(self, checkpoint_callback: ModelCheckpoint):
        self.checkpoint_callback = checkpoint_callback

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs, batch, batch_idx):
        received = bool(getattr(trainer, "received_sigterm", False))
        if trainer.world_size > 1:  # one rank's signal stops them all
            received = trainer.strategy.reduce_boolean_decision(received, all=False)
        if not received:
            return
        callback = self.checkpoint_callback
        if callback._last_global_step_saved != trainer.global_step:
            logging.info(f"SIGTERM received: saving the last checkpoint at step {trainer.global_step} before exiting")
            callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))
