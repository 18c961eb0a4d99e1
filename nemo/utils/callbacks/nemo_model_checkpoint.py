"""`NeMoModelCheckpoint`: Lightning's `ModelCheckpoint` that also writes the model's `.nemo` file."""

import os
from typing import Any, Optional

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint

from nemo.utils import logging

__all__ = ["NeMoModelCheckpoint"]


class NeMoModelCheckpoint(ModelCheckpoint):
    """Top-k and `-last` `.ckpt` files named from `filename`, plus `<dirpath>/<prefix><postfix>` (the `.nemo`).

    Args:
        always_save_nemo: write the `.nemo` every time a checkpoint is written.
        save_nemo_on_train_end: write the `.nemo` when training ends.
        save_best_model: at train end, load the best checkpoint's weights before writing the `.nemo`.
        prefix: base name of the `.nemo` file (the experiment name).
        postfix: extension of that file.
        **kwargs: passed to `ModelCheckpoint` (monitor, mode, save_top_k, save_last, filename, ...).
    """

    def __init__(
        self,
        always_save_nemo: bool = False,
        save_nemo_on_train_end: bool = True,
        save_best_model: bool = False,
        prefix: Optional[str] = None,
        postfix: str = ".nemo",
        model_parallel_size: Optional[int] = None,
        save_last_n_optim_states: int = -1,
        async_save: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.always_save_nemo = always_save_nemo
        self.save_nemo_on_train_end = save_nemo_on_train_end
        self.save_best_model = save_best_model
        self.prefix = prefix or "default"
        self.postfix = postfix
        if self.filename:
            # The last checkpoint carries the same metrics as the top-k ones, ending in `-last`.
            # Set on this instance only (NeMo sets it on the class, for every callback).
            self.CHECKPOINT_NAME_LAST = f"{self.filename}-last"

    @property
    def nemo_path(self) -> str:
        return os.path.join(self.dirpath or ".", f"{self.prefix}{self.postfix}")

    def _save_checkpoint(self, trainer: "pl.Trainer", filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if self.always_save_nemo:
            self._save_nemo(trainer, trainer.lightning_module)

    def on_train_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        super().on_train_end(trainer, pl_module)
        if trainer.fast_dev_run or not self.save_nemo_on_train_end:
            return
        if self.save_best_model and self.best_model_path and os.path.exists(self.best_model_path):
            logging.info(f"Loading the best checkpoint {self.best_model_path} before writing the .nemo file")
            checkpoint = trainer.strategy.load_checkpoint(self.best_model_path)
            pl_module.load_state_dict(checkpoint["state_dict"])
        self._save_nemo(trainer, pl_module)

    def _save_nemo(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if not hasattr(pl_module, "save_to"):
            logging.warning(f"{type(pl_module).__name__} has no save_to(); no .nemo file written")
            return
        if trainer.is_global_zero:
            os.makedirs(os.path.dirname(self.nemo_path), exist_ok=True)
            pl_module.save_to(self.nemo_path)
            logging.info(f"Saved {self.nemo_path}")
        trainer.strategy.barrier("nemo_checkpoint")
