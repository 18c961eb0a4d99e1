"""Structured configs for models: `ModelConfig`, `OptimConfig`, `SchedConfig`, `NemoConfig`, `ModelConfigBuilder`.

Each is a plain dataclass: build one, change its fields, then `OmegaConf.structured(cfg)` gives the
model config (or pass the class as `hydra_runner(schema=...)`).
"""

from dataclasses import dataclass, field, make_dataclass
from typing import Any, Dict, Optional

from omegaconf import MISSING

from nemo.core.classes.dataset import DatasetConfig
from nemo.core.config.pytorch_lightning import TrainerConfig
from nemo.utils.exp_manager import ExpManagerConfig


__all__ = [
    "SchedConfig",
    "OptimConfig",
    "ModelConfig",
    "HydraConfig",
    "NemoConfig",
    "ModelConfigBuilder",
]

@dataclass
class SchedConfig:
    """Learning-rate scheduler: `name` from `AVAILABLE_SCHEDULERS` plus its arguments."""

    name: str = MISSING
    min_lr: float = 0.0
    last_epoch: int = -1


@dataclass
class OptimConfig:
    """Optimizer: `name` from `AVAILABLE_OPTIMIZERS`, its arguments, and an optional `sched`."""

    name: str = MISSING
    sched: Optional[SchedConfig] = None


@dataclass
class ModelConfig:
    """The sections every model config has."""

    train_ds: Optional[DatasetConfig] = None
    validation_ds: Optional[DatasetConfig] = None
    test_ds: Optional[DatasetConfig] = None
    optim: Optional[OptimConfig] = None


@dataclass
class HydraConfig:
    """Hydra settings that keep the working directory and skip Hydra's log file."""

    run: Dict[str, Any] = field(default_factory=lambda: {"dir": "."})
    job_logging: Dict[str, Any] = field(default_factory=lambda: {"root": {"handlers": None}})


@dataclass
class NemoConfig:
    """A whole experiment: `name`, `model`, `trainer`, `exp_manager`, `hydra`."""

    name: str = MISSING
    model: ModelConfig = MISSING
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            strategy="ddp", enable_checkpointing=False, logger=False, log_every_n_steps=1, accelerator="gpu"
        )
    )
    exp_manager: Optional[Any] = field(default_factory=lambda: ExpManagerConfig())
    hydra: HydraConfig = field(default_factory=lambda: HydraConfig())


class ModelConfigBuilder:
    """Fill a `ModelConfig` section by section; subclasses implement `_finalize_cfg`."""

    def __init__(self, model_cfg: ModelConfig):
        self.model_cfg = model_cfg
        self.train_ds_cfg = None
        self.validation_ds_cfg = None
        self.test_ds_cfg = None
        self.optim_cfg = None

    def set_train_ds(self, cfg: Optional[DatasetConfig] = None):
        self.model_cfg.train_ds = cfg

    def set_validation_ds(self, cfg: Optional[DatasetConfig] = None):
        self.model_cfg.validation_ds = cfg

    def set_test_ds(self, cfg: Optional[DatasetConfig] = None):
        self.model_cfg.test_ds = cfg

    def set_optim(self, cfg: Any, sched_cfg: Optional[Any] = None):
        """Combine optimizer params (e.g. `AdamParams`) and scheduler params into `model_cfg.optim`."""
        optim_name = _strip_params(type(cfg).__name__).lower()
        optim_cls = make_dataclass(
            "WrappedOptimConfig", [("name", str, field(default=optim_name))], bases=(OptimConfig, type(cfg))
        )
        fields = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
        optim = optim_cls(**fields)
        if sched_cfg is not None:
            sched_name = _strip_params(type(sched_cfg).__name__)
            sched_cls = make_dataclass(
                "WrappedSchedConfig", [("name", str, field(default=sched_name))], bases=(SchedConfig, type(sched_cfg))
            )
            optim.sched = sched_cls(**{k: getattr(sched_cfg, k) for k in sched_cfg.__dataclass_fields__})
        self.model_cfg.optim = optim

    def _finalize_cfg(self):
        raise NotImplementedError()

    def build(self) -> ModelConfig:
        self._finalize_cfg()
        return self.model_cfg


def _strip_params(name: str) -> str:
    return name[: -len("Params")] if name.endswith("Params") else name
