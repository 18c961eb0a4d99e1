"""`exp_manager(trainer, cfg)`: give a Lightning `Trainer` a log directory, loggers, checkpointing and resume.

The log dir is `<exp_dir>/<name>/<version>` (or `explicit_log_dir`). This module holds the config dataclasses,
decides the dir and wires the rest, each built by a small function from its part of the config:
`nemo.utils.resume` (which checkpoint to continue from), `nemo.utils.run_files` (log files, cmd-args, git info),
`nemo.utils.loggers` (TensorBoard, W&B, MLflow) and `nemo.utils.callbacks.from_config` (checkpointing, timing, ...).
"""

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from signal import Signals, SIGKILL
from typing import Any, Dict, List, Optional, Tuple, Union

from omegaconf import DictConfig, OmegaConf

from nemo.utils.exceptions import NeMoBaseException
from nemo.utils import logging
from nemo.utils.resume import NotFoundError, check_resume
from nemo.utils.run_files import move_previous_run_files, setup_file_logging, write_run_files

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
        move_previous_run_files(log_dir, multi_node=trainer.num_nodes > 1)
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.info(f"Experiments will be logged at {log_dir}")
    trainer._default_root_dir = str(log_dir)

    setup_file_logging(log_dir, global_rank, local_rank, cfg)

    from nemo.utils.loggers import build_loggers

    loggers = build_loggers(cfg, Path(exp_dir), log_dir, name, version)
    if loggers:
        trainer.loggers = loggers
    from nemo.utils.callbacks.from_config import build_callbacks

    callbacks = build_callbacks(cfg, trainer, log_dir, checkpoint_name)
    timing = [cb for cb in callbacks if type(cb).__name__ in ("TimingCallback", "DeltaTimingCallback")]
    trainer.callbacks[:] = timing + trainer.callbacks + [cb for cb in callbacks if cb not in timing]
    _use_atomic_checkpoints(trainer)

    if global_rank == 0:
        write_run_files(log_dir, cfg)
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
