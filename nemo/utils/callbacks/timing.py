"""`TimingCallback`: logs how long each train/validation/test step and each backward pass takes."""

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from nemo.utils.timers import NamedTimer

__all__ = ["TimingCallback", "DeltaTimingCallback"]


class TimingCallback(Callback):
    """Log `train_step_timing in s` (also on the progress bar), `validation_step_timing in s`,
    `test_step_timing in s` and `train_backward_timing in s` every step."""

    def __init__(self, reduction: str = "mean", sync_cuda: bool = False, buffer_size: int = 1):
        self.timer = NamedTimer(reduction=reduction, sync_cuda=sync_cuda, buffer_size=buffer_size)

    def _start(self, name: str) -> None:
        if self.timer.active(name):  # a step that raised never stopped its timer
            self.timer.reset(name)
        self.timer.start(name)

    def _stop(self, name: str, pl_module: "pl.LightningModule", prog_bar: bool = False) -> None:
        if not self.timer.active(name):
            return
        self.timer.stop(name)
        pl_module.log(f"{name} in s", self.timer.get(name), on_step=True, on_epoch=False, batch_size=1, prog_bar=prog_bar)

    def on_train_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int) -> None:
        self._start("train_step_timing")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch: Any, batch_idx: int) -> None:
        self._stop("train_step_timing", pl_module, prog_bar=True)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._start("validation_step_timing")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._stop("validation_step_timing", pl_module)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._start("test_step_timing")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._stop("test_step_timing", pl_module)

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self._start("train_backward_timing")

    def on_after_backward(self, trainer, pl_module) -> None:
        self._stop("train_backward_timing", pl_module)


class DeltaTimingCallback(Callback):
    """Print the time between consecutive training steps to the NeMo log only (no logger traffic)."""

    def __init__(self, **_: Any):
        self._last = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch: Any, batch_idx: int) -> None:
        import time

        from nemo.utils import logging

        now = time.perf_counter()
        if self._last is not None:
            logging.info(f"step {trainer.global_step}: train_step_timing {now - self._last:.4f} s")
        self._last = now
