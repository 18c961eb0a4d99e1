"""`exp_manager(trainer, cfg)`: give a Lightning `Trainer` a log directory, loggers, checkpointing and resume.

The log dir is `<exp_dir>/<name>/<version>` (or `explicit_log_dir`). This module decides the dir and
whether to resume; the loggers come from `nemo.utils.loggers` and the callbacks from
`nemo.utils.callbacks`, each built by a small function from its part of the config.
"""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from signal import Signals, SIGKILL
from typing import Any, Dict, List, Optional, Tuple, Union

from omegaconf import DictConfig, OmegaConf

from nemo.core.classes.exceptions import NeMoBaseException
from nemo.utils import logging

__all__ = [
    "ExpManagerConfig",
    "CallbackParams",
    "EarlyStoppingParams",
    "StepTimingParams",
    "EMAParams",
    "MLFlowParams",
    "DLLoggerParams",
    "ClearMLParams",
    "IPLEpochStopperParams",
    "StragglerDetectionParams",
    "FaultToleranceParams",
    "NotFoundError",
    "LoggerMisconfigurationError",
    "CheckpointMisconfigurationError",
    "exp_manager",
    "get_log_dir",
    "check_resume",
    "clean_exp_ckpt",
]

VERSION_ENV = "NEMO_EXPM_VERSION"


class NotFoundError(NeMoBaseException, FileNotFoundError):
    """Resume was requested but there is no checkpoint to resume from."""


class LoggerMisconfigurationError(NeMoBaseException, ValueError):
    """The trainer's own logger conflicts with the loggers exp_manager should create."""

    def __init__(self, message: str):
        super().__init__(
            message + " You can disable lighning's trainer from creating a logger by passing logger=False to its "
            "constructor."
        )


class CheckpointMisconfigurationError(NeMoBaseException, ValueError):
    """The trainer already has a checkpoint callback while exp_manager should create one."""


# ----------------------------------------------------------------------------------------------- config


@dataclass
class CallbackParams:
    filepath: Optional[str] = None  # deprecated: split into dirpath and filename
    dirpath: Optional[str] = None
    filename: Optional[str] = None
    monitor: Optional[str] = "val_loss"
    verbose: Optional[bool] = True
    save_last: Optional[bool] = True
    save_top_k: Optional[int] = 3
    save_weights_only: Optional[bool] = False
    mode: Optional[str] = "min"
    auto_insert_metric_name: bool = True
    every_n_epochs: Optional[int] = 1
    every_n_train_steps: Optional[int] = None
    train_time_interval: Optional[Any] = None
    prefix: Optional[str] = None
    postfix: str = ".nemo"
    save_best_model: bool = False
    always_save_nemo: bool = False
    save_nemo_on_train_end: Optional[bool] = True
    model_parallel_size: Optional[int] = None
    save_on_train_epoch_end: Optional[bool] = False
    async_save: Optional[bool] = False
    save_last_n_optim_states: Optional[int] = -1


@dataclass
class StepTimingParams:
    reduction: Optional[str] = "mean"
    sync_cuda: Optional[bool] = False
    buffer_size: Optional[int] = 1


@dataclass
class EMAParams:
    enable: Optional[bool] = False
    decay: Optional[float] = 0.999
    cpu_offload: Optional[bool] = False
    validate_original_weights: Optional[bool] = False
    every_n_steps: int = 1


@dataclass
class EarlyStoppingParams:
    monitor: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.001
    patience: int = 10
    verbose: bool = True
    strict: bool = True
    check_finite: bool = True
    stopping_threshold: Optional[float] = None
    divergence_threshold: Optional[float] = None
    check_on_train_epoch_end: Optional[bool] = None
    log_rank_zero_only: bool = False


@dataclass
class IPLEpochStopperParams:
    enable_stop: bool = True
    stop_every_n_epochs: int = 1


@dataclass
class MLFlowParams:
    experiment_name: Optional[str] = None
    run_name: Optional[str] = None
    tracking_uri: Optional[str] = None
    tags: Optional[Dict[str, Any]] = None
    save_dir: Optional[str] = "./mlruns"
    prefix: str = ""
    artifact_location: Optional[str] = None
    run_id: Optional[str] = None
    log_model: bool = False


@dataclass
class DLLoggerParams:
    verbose: Optional[bool] = False
    stdout: Optional[bool] = False
    json_file: Optional[str] = "./dllogger.json"


@dataclass
class ClearMLParams:
    project: Optional[str] = None
    task: Optional[str] = None
    connect_pytorch: Optional[bool] = False
    model_name: Optional[str] = None
    tags: Optional[List[str]] = None
    log_model: Optional[bool] = False
    log_cfg: Optional[bool] = False
    log_metrics: Optional[bool] = False


@dataclass
class StragglerDetectionParams:
    report_time_interval: float = 300
    calc_relative_gpu_perf: bool = True
    calc_individual_gpu_perf: bool = True
    num_gpu_perf_scores_to_log: int = 5
    gpu_relative_perf_threshold: float = 0.7
    gpu_individual_perf_threshold: float = 0.7
    stop_if_detected: bool = False


@dataclass
class FaultToleranceParams:
    workload_check_interval: float = 5.0
    initial_rank_heartbeat_timeout: Optional[float] = 60.0 * 60.0
    rank_heartbeat_timeout: Optional[float] = 45.0 * 60.0
    calculate_timeouts: bool = True
    safety_factor: float = 5.0
    rank_termination_signal: Signals = SIGKILL
    log_level: str = "INFO"
    max_rank_restarts: int = 0
    max_subsequent_job_failures: int = 0
    additional_ft_launcher_args: str = ""
    simulated_fault: Optional[Any] = None


@dataclass
class ExpManagerConfig:
    """Every key `exp_manager` accepts; unknown keys fail."""

    explicit_log_dir: Optional[str] = None
    exp_dir: Optional[str] = None
    name: Optional[str] = None
    version: Optional[str] = None
    use_datetime_version: Optional[bool] = True
    resume_if_exists: Optional[bool] = False
    resume_past_end: Optional[bool] = False
    resume_ignore_no_checkpoint: Optional[bool] = False
    resume_from_checkpoint: Optional[str] = None
    create_tensorboard_logger: Optional[bool] = True
    summary_writer_kwargs: Optional[Dict[Any, Any]] = None
    create_wandb_logger: Optional[bool] = False
    wandb_logger_kwargs: Optional[Dict[Any, Any]] = None
    create_mlflow_logger: Optional[bool] = False
    mlflow_logger_kwargs: Optional[MLFlowParams] = field(default_factory=lambda: MLFlowParams())
    create_dllogger_logger: Optional[bool] = False
    dllogger_logger_kwargs: Optional[DLLoggerParams] = field(default_factory=lambda: DLLoggerParams())
    create_clearml_logger: Optional[bool] = False
    clearml_logger_kwargs: Optional[ClearMLParams] = field(default_factory=lambda: ClearMLParams())
    create_neptune_logger: Optional[bool] = False
    neptune_logger_kwargs: Optional[Dict[Any, Any]] = None
    create_checkpoint_callback: Optional[bool] = True
    checkpoint_callback_params: Optional[CallbackParams] = field(default_factory=lambda: CallbackParams())
    create_early_stopping_callback: Optional[bool] = False
    create_ipl_epoch_stopper_callback: Optional[bool] = False
    early_stopping_callback_params: Optional[EarlyStoppingParams] = field(
        default_factory=lambda: EarlyStoppingParams()
    )
    ipl_epoch_stopper_callback_params: Optional[IPLEpochStopperParams] = field(
        default_factory=lambda: IPLEpochStopperParams()
    )
    create_preemption_callback: Optional[bool] = True
    files_to_copy: Optional[List[str]] = None
    log_step_timing: Optional[bool] = True
    log_delta_step_timing: Optional[bool] = False
    step_timing_kwargs: Optional[StepTimingParams] = field(default_factory=lambda: StepTimingParams())
    log_local_rank_0_only: Optional[bool] = False
    log_global_rank_0_only: Optional[bool] = False
    disable_validation_on_resume: Optional[bool] = True
    ema: Optional[EMAParams] = field(default_factory=lambda: EMAParams())
    max_time_per_run: Optional[str] = None
    seconds_to_sleep: float = 5
    create_straggler_detection_callback: Optional[bool] = False
    straggler_detection_params: Optional[StragglerDetectionParams] = field(
        default_factory=lambda: StragglerDetectionParams()
    )
    create_fault_tolerance_callback: Optional[bool] = False
    fault_tolerance: Optional[FaultToleranceParams] = field(default_factory=lambda: FaultToleranceParams())
    log_tflops_per_sec_per_gpu: Optional[bool] = True


def _merge_config(cfg: Union[DictConfig, Dict]) -> DictConfig:
    if isinstance(cfg, dict):
        cfg = OmegaConf.create(cfg)
    elif not isinstance(cfg, DictConfig):
        raise ValueError(f"cfg was type: {type(cfg)}. Expected either a dict or a DictConfig")
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    return OmegaConf.merge(OmegaConf.structured(ExpManagerConfig), resolved)


# ----------------------------------------------------------------------------------------------- log dir

# The version this process exported to NEMO_EXPM_VERSION; a later call here must not reuse it,
# while DDP children (new processes that inherit the variable) must.
_exported_version: Optional[str] = None


def _next_tensorboard_version(root: Path) -> str:
    numbers = [int(p.name.split("_", 1)[1]) for p in root.glob("version_*") if p.name.split("_", 1)[1].isdigit()]
    return f"version_{max(numbers) + 1 if numbers else 0}"


def get_log_dir(
    trainer: Any,
    exp_dir: Optional[str] = None,
    name: Optional[str] = None,
    version: Optional[str] = None,
    explicit_log_dir: Optional[str] = None,
    use_datetime_version: bool = True,
    resume_if_exists: bool = False,
) -> Tuple[Path, str, str, Optional[str]]:
    """Return `(log_dir, exp_dir, name, version)` following NeMo's rules (see module docstring)."""
    global _exported_version
    if explicit_log_dir:
        if trainer.logger is not None:
            raise LoggerMisconfigurationError(
                "The pytorch lightning trainer that was passed to exp_manager contained a logger and "
                f"explicit_log_dir: {explicit_log_dir} was passed to exp_manager. Please remove the logger from "
                "the lightning trainer."
            )
        if exp_dir or version:
            logging.error(
                f"exp_manager received explicit_log_dir: {explicit_log_dir} and at least one of exp_dir: {exp_dir}, "
                f"or version: {version}. Please note that exp_dir, name, and version will be ignored."
            )
        if Path(explicit_log_dir).exists():
            logging.warning(f"Exp_manager is logging to {explicit_log_dir}, but it already exists.")
        return Path(explicit_log_dir), str(explicit_log_dir), "", ""

    if trainer.logger is not None:
        if exp_dir:
            raise LoggerMisconfigurationError(
                "The pytorch lightning trainer that was passed to exp_manager contained a logger, and exp_dir "
                f"was also passed to exp_manager: {exp_dir}."
            )
        if name:
            raise LoggerMisconfigurationError(
                "The pytorch lightning trainer that was passed to exp_manager contained a logger, and name "
                f"was also passed to exp_manager: {name}."
            )
        exp_dir = trainer.logger.save_dir
        name = trainer.logger.name
        version = f"version_{trainer.logger.version}"
        return Path(exp_dir) / name / version, str(exp_dir), name, version

    exp_dir = str(exp_dir or Path.cwd() / "nemo_experiments")
    name = name or "default"
    if not version:
        inherited = os.environ.get(VERSION_ENV)
        if inherited and inherited != _exported_version:
            version = inherited
    if not version:
        if resume_if_exists:
            logging.warning(
                "No version folders would be created under the log folder as 'resume_if_exists' is enabled."
            )
            version = None
        elif trainer.is_global_zero:
            if use_datetime_version:
                version = time.strftime("%Y-%m-%d_%H-%M-%S")
            else:
                version = _next_tensorboard_version(Path(exp_dir) / name)
            os.environ[VERSION_ENV] = version
            _exported_version = version
    log_dir = Path(exp_dir) / name / (version or "")
    return log_dir, exp_dir, name, version


def _move_previous_run_files(log_dir: Path, multi_node: bool = False) -> None:
    """Move files left in `log_dir` by an earlier run into `log_dir/run_<N>/` (TensorBoard events stay).

    With several nodes, other ranks' log files may belong to this run (their node started first), so they stay.
    """
    if not log_dir.is_dir():
        return

    def keep(p: Path) -> bool:
        other_rank_log = p.name.startswith("nemo_log_globalrank-") and not p.name.startswith("nemo_log_globalrank-0_")
        return p.name.startswith("events.out.tfevents") or (multi_node and other_rank_log)

    files = [p for p in log_dir.iterdir() if p.is_file() and not keep(p)]
    if not files:
        return
    target = log_dir / f"run_{len(list(log_dir.glob('run_*')))}"
    target.mkdir()
    for path in files:
        shutil.move(str(path), str(target / path.name))


# ----------------------------------------------------------------------------------------------- resume


def _finished(paths: List[Path]) -> List[Path]:
    return [p for p in paths if not Path(str(p).removesuffix(".ckpt") + "-unfinished").exists()]


def _newest(paths: List[Path]) -> Path:
    return max(paths, key=lambda p: p.stat().st_mtime)


def check_resume(
    trainer: Any,
    log_dir: Union[str, Path],
    resume_if_exists: bool = False,
    resume_past_end: bool = False,
    resume_ignore_no_checkpoint: bool = False,
    dirpath: Optional[str] = None,
    resume_from_checkpoint: Optional[str] = None,
) -> Optional[Path]:
    """Pick the checkpoint to resume from and set `trainer.ckpt_path`; return it (or None to start fresh)."""
    if not log_dir:
        raise ValueError(f"Resuming requires the log_dir {log_dir} to be passed to exp_manager")
    checkpoint: Optional[Path] = Path(resume_from_checkpoint) if resume_from_checkpoint else None

    if resume_if_exists:
        checkpoint_dir = Path(dirpath) if dirpath else Path(log_dir) / "checkpoints"
        found_end = sorted(checkpoint_dir.rglob("*end.ckpt")) if checkpoint_dir.is_dir() else []
        found_last = sorted(checkpoint_dir.rglob("*last.ckpt")) if checkpoint_dir.is_dir() else []
        end, last = _finished(found_end), _finished(found_last)
        if found_end and not end:
            raise ValueError(f"End checkpoint {found_end[0]} is unfinished and cannot be used to resume the training.")
        if found_last and not last:
            raise ValueError(
                f"Last checkpoint {found_last[0]} is unfinished and cannot be used to resume the training. "
                "Please remove the checkpoint manually to avoid unexpected consequences, such as restarting "
                "from scratch."
            )
        if not end and not last:
            if not resume_ignore_no_checkpoint:
                raise NotFoundError(f"There were no checkpoints found in {checkpoint_dir}. Cannot resume.")
            start = f"from {resume_from_checkpoint}" if resume_from_checkpoint else "from scratch"
            logging.warning(
                "There were no checkpoints found in checkpoint_dir or no checkpoint folder at checkpoint_dir "
                f":{checkpoint_dir}. Training {start}."
            )
        elif end:
            if not resume_past_end:
                raise ValueError(f"Found {end[0]} indicating that the last training run has already completed.")
            if len(end) > 1 and "mp_rank" not in str(end[0]):
                raise ValueError(f"Multiple checkpoints {end} that matches *end.ckpt.")
            checkpoint = end[0]  # NeMo leaves this unset for a single end checkpoint and restarts silently
        elif len(last) > 1:
            if any(tag in str(last[0]) for tag in ("mp_rank", "tp_rank", "fsdp_shard")):
                checkpoint = last[0].parent.parent / last[0].name
            else:
                # Two `-last` files exist when a run died between writing the new one and deleting
                # the old one: the newest is the one to continue from.
                checkpoint = _newest(last)
                logging.warning(f"Multiple checkpoints {last} match *last.ckpt; resuming from the newest, {checkpoint}")
        else:
            checkpoint = last[0]

    if checkpoint is not None:
        if not Path(checkpoint).exists() and "://" not in str(checkpoint):
            raise NotFoundError(f"resume_from_checkpoint {checkpoint} does not exist. Cannot resume.")
        trainer.ckpt_path = str(checkpoint)
        logging.info(f"Resuming training from checkpoint: {checkpoint}")
    return checkpoint


# ----------------------------------------------------------------------------------------------- files


class _FileLogs:
    """The log files exp_manager attached in this process, so the next call can detach them."""

    handlers: List[Tuple[Any, Any]] = []

    @classmethod
    def detach(cls) -> None:
        for logger, handler in cls.handlers:
            logger.removeHandler(handler)
            handler.close()
        cls.handlers = []

    @classmethod
    def attach(cls, logger: Any, path: Path, level: int) -> None:
        import logging as std_logging

        handler = std_logging.FileHandler(path)
        handler.setLevel(level)
        formatter = logging.handlers[0].formatter if logging.handlers else None
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        if logger.level == std_logging.NOTSET or logger.level > level:
            logger.setLevel(level)
        cls.handlers.append((logger, handler))


def _setup_file_logging(log_dir: Path, global_rank: int, local_rank: int, cfg: DictConfig) -> None:
    import logging as std_logging

    _FileLogs.detach()
    testing = os.environ.get("NEMO_TESTING", "") not in ("", "0")
    skip = (cfg.log_local_rank_0_only and local_rank != 0) or (cfg.log_global_rank_0_only and global_rank != 0)
    if testing or not skip:
        path = log_dir / f"nemo_log_globalrank-{global_rank}_localrank-{local_rank}.txt"
        _FileLogs.attach(logging, path, std_logging.INFO)
    if global_rank == 0:
        _FileLogs.attach(logging, log_dir / "nemo_error_log.txt", std_logging.WARNING)
        lightning_logger = std_logging.getLogger("lightning.pytorch")
        _FileLogs.attach(lightning_logger, log_dir / "lightning_logs.txt", std_logging.INFO)
        _FileLogs.attach(lightning_logger, log_dir / "nemo_error_log.txt", std_logging.WARNING)


def _write_run_files(log_dir: Path, cfg: DictConfig) -> None:
    for src in cfg.files_to_copy or []:
        shutil.copy(Path(src), log_dir / Path(src).name)
    (log_dir / "cmd-args.log").write_text(" ".join(sys.argv))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        if head.returncode == 0:
            diff = subprocess.run(["git", "diff"], capture_output=True, text=True, timeout=30)
            with open(log_dir / "git-info.log", "a") as f:
                f.write(f"commit hash: {head.stdout.strip()}\n")
                f.write(diff.stdout)
    except (OSError, subprocess.SubprocessError):
        pass


# ----------------------------------------------------------------------------------------------- callbacks


def _parse_duration(value: str) -> timedelta:
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
            raise CheckpointMisconfigurationError(
                "The pytorch lightning trainer that was passed to exp_manager contained a ModelCheckpoint "
                "and create_checkpoint_callback was set to True. Please either set create_checkpoint_callback "
                "to False, or remove ModelCheckpoint from the lightning trainer"
            )
        callbacks.append(checkpoint_callback(cfg, log_dir, name, trainer))
    callbacks.append(ResumeConfigDiff())
    if cfg.max_time_per_run:
        duration = _parse_duration(cfg.max_time_per_run)
        trainer.callbacks[:] = [cb for cb in trainer.callbacks if not isinstance(cb, Timer)]
        callbacks.append(StatelessTimer(duration=duration))
    if cfg.create_straggler_detection_callback:
        raise ValueError("create_straggler_detection_callback=True needs the optional package 'ptl_resiliency'")
    if cfg.create_fault_tolerance_callback:
        raise ValueError("create_fault_tolerance_callback=True needs the optional package 'ptl_resiliency'")
    return callbacks


# ----------------------------------------------------------------------------------------------- main


def _is_lightning_default_logger(trainer: Any) -> bool:
    logger = trainer.logger
    return (
        logger is not None
        and len(trainer.loggers) == 1
        and type(logger).__name__ in ("TensorBoardLogger", "CSVLogger")
        and logger.name == "lightning_logs"
        and os.path.abspath(str(logger.save_dir)) == os.path.abspath(trainer.default_root_dir)
    )


def _is_lightning_default_checkpoint(callback: Any) -> bool:
    from lightning.pytorch.callbacks import ModelCheckpoint

    return (
        type(callback) is ModelCheckpoint
        and callback.dirpath is None
        and callback.monitor is None
        and callback.filename is None
        and callback.save_top_k == 1
        and not callback.save_last
    )


def _release_lightning_defaults(trainer: Any, cfg: DictConfig) -> None:
    """Drop the logger and checkpoint callback Lightning adds by default when exp_manager provides its own."""
    wants_logger = cfg.create_tensorboard_logger or cfg.create_wandb_logger or cfg.create_mlflow_logger
    if (wants_logger or cfg.explicit_log_dir) and _is_lightning_default_logger(trainer):
        logging.info("exp_manager replaces the trainer's default logger (set trainer.logger=False to silence this)")
        trainer.loggers = []
    if cfg.create_checkpoint_callback:
        defaults = [cb for cb in trainer.callbacks if _is_lightning_default_checkpoint(cb)]
        if defaults:
            logging.info("exp_manager replaces the trainer's default ModelCheckpoint (set enable_checkpointing=False)")
            trainer.callbacks[:] = [cb for cb in trainer.callbacks if cb not in defaults]


def _check_config(trainer: Any, cfg: DictConfig) -> None:
    from lightning.pytorch.strategies import DDPStrategy

    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized() and os.getcwd() != HydraConfig.get().runtime.cwd:
            raise ValueError(
                "Hydra changed the working directory. This interferes with ExpManger's functionality. Please pass "
                "hydra.run.dir=. to your python script."
            )
    except ImportError:
        pass
    if trainer.logger is not None and (
        cfg.create_tensorboard_logger or cfg.create_wandb_logger or cfg.create_mlflow_logger
    ):
        raise LoggerMisconfigurationError(
            "The pytorch lightning trainer that was passed to exp_manager contained a logger, and either "
            f"create_tensorboard_logger: {cfg.create_tensorboard_logger} or create_wandb_logger: "
            f"{cfg.create_wandb_logger} or create_mlflow_logger: {cfg.create_mlflow_logger} was set to True. "
            "These can only be used if trainer does not already have a logger."
        )
    if cfg.log_local_rank_0_only and cfg.log_global_rank_0_only:
        raise ValueError(
            "Cannot set both log_local_rank_0_only and log_global_rank_0_only to True. Please set either one or "
            "neither."
        )
    if trainer.num_nodes > 1 and not os.environ.get("SLURM_JOB_ID") and not os.environ.get("NODE_RANK"):
        logging.error("Multi-node training without SLURM or NODE_RANK: every node must be launched by hand.")
    if trainer.num_devices > 1 and not isinstance(trainer.strategy, DDPStrategy):
        logging.error(f"Several devices with strategy {type(trainer.strategy).__name__}; use a DDP strategy.")


def _use_atomic_checkpoints(trainer: Any) -> None:
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from nemo.utils.checkpoint_io import AtomicCheckpointIO

    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()


def exp_manager(trainer: Any, cfg: Optional[Union[DictConfig, Dict]] = None) -> Optional[Path]:
    """Set up the log dir, loggers and callbacks of `trainer` from `cfg` (an `ExpManagerConfig`); return the log dir.

    Returns None (and changes nothing) when `cfg` is None or the trainer runs `fast_dev_run`.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    global_rank = trainer.node_rank * trainer.num_devices + local_rank
    if cfg is None:
        logging.error("exp_manager did not receive a cfg argument. It will be disabled.")
        return None
    if trainer.fast_dev_run:
        logging.info("Trainer was called with fast_dev_run. exp_manager will return without any functionality.")
        return None
    cfg = _merge_config(cfg)

    _release_lightning_defaults(trainer, cfg)
    _check_config(trainer, cfg)

    log_dir, exp_dir, name, version = get_log_dir(
        trainer,
        exp_dir=cfg.exp_dir,
        name=cfg.name,
        version=cfg.version,
        explicit_log_dir=cfg.explicit_log_dir,
        use_datetime_version=cfg.use_datetime_version,
        resume_if_exists=cfg.resume_if_exists,
    )
    checkpoint_name = name or cfg.name or "default"
    check_resume(
        trainer,
        log_dir,
        resume_if_exists=cfg.resume_if_exists,
        resume_past_end=cfg.resume_past_end,
        resume_ignore_no_checkpoint=cfg.resume_ignore_no_checkpoint,
        dirpath=cfg.checkpoint_callback_params.dirpath,
        resume_from_checkpoint=cfg.resume_from_checkpoint,
    )
    if global_rank == 0:
        _move_previous_run_files(log_dir, multi_node=trainer.num_nodes > 1)
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.info(f"Experiments will be logged at {log_dir}")
    trainer._default_root_dir = str(log_dir)

    _setup_file_logging(log_dir, global_rank, local_rank, cfg)

    from nemo.utils.loggers import build_loggers

    loggers = build_loggers(cfg, Path(exp_dir), log_dir, name, version)
    if loggers:
        trainer.loggers = loggers
    callbacks = build_callbacks(cfg, trainer, log_dir, checkpoint_name)
    timing = [cb for cb in callbacks if type(cb).__name__ in ("TimingCallback", "DeltaTimingCallback")]
    trainer.callbacks[:] = timing + trainer.callbacks + [cb for cb in callbacks if cb not in timing]
    _use_atomic_checkpoints(trainer)

    if global_rank == 0:
        _write_run_files(log_dir, cfg)
    elif trainer.num_devices * trainer.num_nodes > 1:
        time.sleep(cfg.seconds_to_sleep)
    return log_dir


def clean_exp_ckpt(exp_log_dir: Union[str, Path], remove_ckpt: bool = True, remove_nemo: bool = False) -> None:
    """Delete `<exp_log_dir>/checkpoints/*.ckpt` (and `*.nemo` if asked)."""
    checkpoints = Path(exp_log_dir) / "checkpoints"
    if not checkpoints.is_dir():
        raise ValueError(f"Directory {checkpoints} does not exist")
    patterns = (["*.ckpt"] if remove_ckpt else []) + (["*.nemo"] if remove_nemo else [])
    for pattern in patterns:
        for path in checkpoints.glob(pattern):
            path.unlink()
            logging.info(f"Deleted {path}")
