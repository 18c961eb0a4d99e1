"""Build the Lightning callbacks an `ExpManagerConfig` asks for: timing, early stopping, checkpointing, timers."""

from datetime import timedelta
from pathlib import Path
from typing import Any, List

from omegaconf import DictConfig, OmegaConf

from nemo.utils import logging

__all__ = ["build_callbacks", "checkpoint_callback", "parse_duration"]


def parse_duration(value: str) -> timedelta:
    parts = [int(p) for p in str(value).split(":")]
    if len(parts) != 4:
        raise ValueError(f"max_time_per_run must be DD:HH:MM:SS, got {value!r}")
    days, hours, minutes, seconds = parts
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def checkpoint_callback(cfg: DictConfig, log_dir: Path, name: str, trainer: Any):
    """Build the `NeMoModelCheckpoint` from `checkpoint_callback_params`."""
    from nemo.utils.callbacks import NeMoModelCheckpoint

    params = OmegaConf.to_container(cfg.checkpoint_callback_params, resolve=True)
    filepath = params.pop("filepath", None)
    if filepath:
        logging.warning("filepath is deprecated; use dirpath and filename instead")
        params["dirpath"] = params.get("dirpath") or str(Path(filepath).parent)
        params["filename"] = params.get("filename") or Path(filepath).name
    params["dirpath"] = params.get("dirpath") or str(log_dir / "checkpoints")
    monitor = params.get("monitor")
    if not params.get("filename"):
        params["filename"] = f"{name}--{{{monitor}:.4f}}-{{epoch}}" if monitor else f"{name}--{{epoch}}"
    params["prefix"] = params.get("prefix") or name
    if (params.get("every_n_train_steps") or params.get("train_time_interval")) and params.get("every_n_epochs") == 1:
        # Lightning refuses two save triggers; a step or time trigger replaces the default epoch one.
        params["every_n_epochs"] = None
    interval = params.get("train_time_interval")
    if isinstance(interval, dict):
        params["train_time_interval"] = timedelta(**{k: v for k, v in interval.items() if k != "_target_"})
    if monitor and "val" in monitor and trainer.max_epochs is not None and trainer.max_epochs != -1:
        if trainer.max_epochs < trainer.check_val_every_n_epoch:
            logging.error(
                f"The checkpoint callback monitors {monitor}, but max_epochs ({trainer.max_epochs}) is less than "
                f"check_val_every_n_epoch ({trainer.check_val_every_n_epoch}): validation never runs, so the "
                "run will likely fail with 'monitor not found'."
            )
    return NeMoModelCheckpoint(**params)


def build_callbacks(cfg: DictConfig, trainer: Any, log_dir: Path, name: str) -> List[Any]:
    """Callbacks asked for by `cfg`, in NeMo's order (timing first)."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer

    from nemo.utils.callbacks import ResumeConfigDiff, StatelessTimer, TimingCallback
    from nemo.utils.callbacks.ipl_epoch_stopper import IPLEpochStopper
    from nemo.utils.callbacks.timing import DeltaTimingCallback

    callbacks: List[Any] = []
    if cfg.log_delta_step_timing:
        callbacks.append(DeltaTimingCallback())
    elif cfg.log_step_timing:
        callbacks.append(TimingCallback(**OmegaConf.to_container(cfg.step_timing_kwargs)))
    if cfg.ema.enable:
        raise ValueError("exp_manager.ema.enable=True: EMA is not supported by this implementation")
    if cfg.create_early_stopping_callback:
        callbacks.append(EarlyStopping(**OmegaConf.to_container(cfg.early_stopping_callback_params)))
    if cfg.create_ipl_epoch_stopper_callback:
        callbacks.append(IPLEpochStopper(**OmegaConf.to_container(cfg.ipl_epoch_stopper_callback_params)))
    if cfg.create_checkpoint_callback:
        if any(isinstance(cb, ModelCheckpoint) for cb in trainer.callbacks):
            from nemo.utils.exp_manager import CheckpointMisconfigurationError

            raise CheckpointMisconfigurationError(
                "The pytorch lightning trainer that was passed to exp_manager contained a ModelCheckpoint "
                "and create_checkpoint_callback was set to True. Please either set create_checkpoint_callback "
                "to False, or remove ModelCheckpoint from the lightning trainer"
            )
        checkpointing = checkpoint_callback(cfg, log_dir, name, trainer)
        callbacks.append(checkpointing)
        if cfg.create_preemption_callback:
            from nemo.utils.callbacks.preemption import PreemptionCallback

            callbacks.append(PreemptionCallback(checkpointing))
    callbacks.append(ResumeConfigDiff())
    if cfg.max_time_per_run:
        duration = parse_duration(cfg.max_time_per_run)
        trainer.callbacks[:] = [cb for cb in trainer.callbacks if not isinstance(cb, Timer)]
        callbacks.append(StatelessTimer(duration=duration))
    if cfg.create_straggler_detection_callback:
        raise ValueError("create_straggler_detection_callback=True needs the optional package 'ptl_resiliency'")
    if cfg.create_fault_tolerance_callback:
        raise ValueError("create_fault_tolerance_callback=True needs the optional package 'ptl_resiliency'")
    return callbacks
