"""Small builders for Lightning experiment loggers, one per backend; `exp_manager` calls them from its config.

The heavy backends (wandb, mlflow) are imported only when their logger is asked for.
"""

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf

__all__ = ["build_loggers", "tensorboard_logger", "wandb_logger", "mlflow_logger"]


def _as_dict(kwargs: Any) -> Dict[str, Any]:
    if kwargs is None:
        return {}
    if isinstance(kwargs, DictConfig):
        return OmegaConf.to_container(kwargs, resolve=True)
    return dict(kwargs)


def tensorboard_logger(exp_dir: Path, name: str, version: Optional[str], kwargs: Any = None):
    """A `TensorBoardLogger` whose event files land in `<exp_dir>/<name>/<version>` (the log dir)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    kwargs = _as_dict(kwargs)
    if "log_dir" in kwargs:
        raise ValueError(
            "summary_writer_kwargs.log_dir is not allowed: the log dir comes from exp_dir/name/version "
            "or explicit_log_dir"
        )
    # An empty version keeps TensorBoard from adding its own version_N folder.
    return TensorBoardLogger(save_dir=str(exp_dir), name=name, version=version or "", **kwargs)


def wandb_logger(log_dir: Path, name: str, version: Optional[str], kwargs: Any = None):
    """A `WandbLogger` whose run folder is under the log dir; set WANDB_MODE=offline to stay off the network."""
    from lightning.pytorch.loggers import WandbLogger

    kwargs = _as_dict(kwargs)
    if not kwargs.get("name") and not kwargs.get("project"):
        kwargs["name"] = name
        kwargs["project"] = name
    kwargs.setdefault("save_dir", str(log_dir))
    os.makedirs(kwargs["save_dir"], exist_ok=True)
    return WandbLogger(version=version or None, **kwargs)


def mlflow_logger(experiment_name: str, version: Optional[str], kwargs: Any = None):
    """An `MLFlowLogger`; with no `tracking_uri` it writes to the local `file:<save_dir>` store."""
    from lightning.pytorch.loggers import MLFlowLogger

    kwargs = {k: v for k, v in _as_dict(kwargs).items() if v is not None}
    kwargs.setdefault("experiment_name", experiment_name)
    kwargs.setdefault("run_name", version or None)
    uri = kwargs.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri or uri.startswith("file:"):
        # NeMo's default store is a local folder (`save_dir`); recent MLflow wants an explicit opt-in for it.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLFlowLogger(**kwargs)


def _missing_package(flag: str, package: str) -> None:
    raise ValueError(f"exp_manager.{flag}=True needs the optional package '{package}', which is not supported here")


def build_loggers(cfg: DictConfig, exp_dir: Path, log_dir: Path, name: str, version: Optional[str]) -> List[Any]:
    """Every logger `cfg` asks for (`create_*_logger` flags), in a fixed order."""
    loggers = []
    if cfg.create_tensorboard_logger:
        loggers.append(tensorboard_logger(exp_dir, name, version, cfg.summary_writer_kwargs))
    if cfg.create_wandb_logger:
        loggers.append(wandb_logger(log_dir, name, version, cfg.wandb_logger_kwargs))
    if cfg.create_mlflow_logger:
        loggers.append(mlflow_logger(name, version, cfg.mlflow_logger_kwargs))
    if cfg.create_neptune_logger:
        from lightning.pytorch.loggers import NeptuneLogger

        kwargs = _as_dict(cfg.neptune_logger_kwargs)
        if not kwargs.get("name") and not kwargs.get("project"):
            raise ValueError("name and project are required for neptune_logger")
        if not kwargs.get("api_key") and not os.environ.get("NEPTUNE_API_TOKEN"):
            raise ValueError("either api_key or the NEPTUNE_API_TOKEN variable is required for neptune_logger")
        loggers.append(NeptuneLogger(**kwargs))
    if cfg.create_dllogger_logger:
        _missing_package("create_dllogger_logger", "dllogger")
    if cfg.create_clearml_logger:
        _missing_package("create_clearml_logger", "clearml")
    return loggers
