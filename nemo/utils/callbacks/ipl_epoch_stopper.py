"""`IPLEpochStopper`: stop `fit` every N epochs (iterative pseudo-labelling runs one round per fit call)."""

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

__all__ = ["IPLEpochStopper"]


class IPLEpochStopper(Callback):
    def __init__(self, enable_stop: bool = True, stop_every_n_epochs: int = 1):
        self.enable_stop = enable_stop
        self.stop_every_n_epochs = stop_every_n_epochs

    def on_train_epoch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if self.enable_stop and (trainer.current_epoch + 1) % self.stop_every_n_epochs == 0:
            trainer.should_stop = True
