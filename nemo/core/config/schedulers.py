"""Scheduler parameter dataclasses: one per learning-rate policy, documenting its arguments and defaults.

The params registry maps `"<SchedulerName>Params"` to a dataclass so `sched.args: {name: auto}` and
`sched._target_: <params class>` can build scheduler arguments from it.
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Dict, Optional

from omegaconf import OmegaConf


@dataclass
class SchedulerParams:
    """Base of all scheduler params: torch's resume counter."""

    last_epoch: int = -1


@dataclass
class SquareRootConstantSchedulerParams(SchedulerParams):
    constant_steps: Optional[float] = None
    constant_ratio: Optional[float] = None


@dataclass
class WarmupSchedulerParams(SchedulerParams):
    # max_steps 0 / -1 / absent: computed at setup from the trainer and the train loader.
    max_steps: int = 0
    warmup_steps: Optional[float] = None
    warmup_ratio: Optional[float] = None


@dataclass
class WarmupHoldSchedulerParams(WarmupSchedulerParams):
    hold_steps: Optional[float] = None
    hold_ratio: Optional[float] = None
    min_lr: float = 0.0


@dataclass
class WarmupAnnealingHoldSchedulerParams(WarmupSchedulerParams):
    constant_steps: Optional[float] = None
    constant_ratio: Optional[float] = None
    min_lr: float = 0.0


@dataclass
class SquareAnnealingParams(WarmupSchedulerParams):
    min_lr: float = 1e-5


@dataclass
class SquareRootAnnealingParams(WarmupSchedulerParams):
    min_lr: float = 0.0


@dataclass
class CosineAnnealingParams(WarmupAnnealingHoldSchedulerParams):
    # Same fields as the parent; the later additions are hidden from repr so it prints as the seed shows.
    max_steps: int = field(default=0, repr=False)
    constant_steps: Optional[float] = field(default=None, repr=False)
    constant_ratio: Optional[float] = field(default=None, repr=False)


@dataclass
class NoamAnnealingParams(WarmupSchedulerParams):
    min_lr: float = 0.0
    d_model: Optional[int] = None  # required by NoamAnnealing; NeMo's dataclass lacks it


@dataclass
class NoamHoldAnnealingParams(WarmupHoldSchedulerParams):
    decay_rate: float = 0.5


@dataclass
class WarmupAnnealingParams(WarmupSchedulerParams):
    warmup_ratio: Optional[float] = None


@dataclass
class InverseSquareRootAnnealingParams(WarmupSchedulerParams):
    pass


@dataclass
class PolynomialDecayAnnealingParams(WarmupSchedulerParams):
    power: float = 1.0
    cycle: bool = False


@dataclass
class PolynomialHoldDecayAnnealingParams(WarmupSchedulerParams):
    power: float = 1.0
    cycle: bool = False


@dataclass
class StepLRParams(SchedulerParams):
    step_size: float = 0.1
    gamma: float = 0.1


@dataclass
class ExponentialLRParams(SchedulerParams):
    gamma: float = 0.9


@dataclass
class ReduceLROnPlateauParams:
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    verbose: bool = False  # kept for config compatibility; torch >= 2.7 no longer accepts it (dropped at setup)
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0
    eps: float = 1e-8


@dataclass
class CyclicLRParams(SchedulerParams):
    base_lr: float = 0.001
    max_lr: float = 0.1
    step_size_up: int = 2000
    step_size_down: Optional[int] = None
    mode: str = "triangular"
    gamma: float = 1.0
    scale_mode: str = "cycle"
    cycle_momentum: bool = True
    base_momentum: float = 0.8
    max_momentum: float = 0.9


AVAILABLE_SCHEDULER_PARAMS: Dict[str, type] = {
    "SchedulerParams": SchedulerParams,
    "WarmupPolicyParams": WarmupSchedulerParams,
    "WarmupHoldPolicyParams": WarmupHoldSchedulerParams,
    "WarmupAnnealingHoldSchedulerParams": WarmupAnnealingHoldSchedulerParams,
    "SquareAnnealingParams": SquareAnnealingParams,
    "SquareRootAnnealingParams": SquareRootAnnealingParams,
    "InverseSquareRootAnnealingParams": InverseSquareRootAnnealingParams,
    "SquareRootConstantSchedulerParams": SquareRootConstantSchedulerParams,
    "CosineAnnealingParams": CosineAnnealingParams,
    "NoamAnnealingParams": NoamAnnealingParams,
    "NoamHoldAnnealingParams": NoamHoldAnnealingParams,
    "WarmupAnnealingParams": WarmupAnnealingParams,
    "PolynomialDecayAnnealingParams": PolynomialDecayAnnealingParams,
    "PolynomialHoldDecayAnnealingParams": PolynomialHoldDecayAnnealingParams,
    "ReduceLROnPlateauParams": ReduceLROnPlateauParams,
    "StepLRParams": StepLRParams,
    "ExponentialLRParams": ExponentialLRParams,
    "CyclicLRParams": CyclicLRParams,
}


def register_scheduler_params(name: str, scheduler_params: type) -> None:
    """Add a params dataclass under `name` (conventionally `"<SchedulerName>Params"`)."""
    if name in AVAILABLE_SCHEDULER_PARAMS:
        raise ValueError(f"Cannot override pre-existing scheduler parameters. Conflicting name = {name}")
    AVAILABLE_SCHEDULER_PARAMS[name] = scheduler_params


def get_scheduler_config(name: str, **kwargs: Any):
    """`partial(<params class>, **kwargs)` after checking `kwargs` against the dataclass's fields and types."""
    if name not in AVAILABLE_SCHEDULER_PARAMS:
        raise ValueError(
            f"Cannot resolve scheduler parameters '{name}'. Available scheduler parameters are: "
            f"{sorted(AVAILABLE_SCHEDULER_PARAMS)}"
        )
    params_cls = AVAILABLE_SCHEDULER_PARAMS[name]
    if kwargs:
        OmegaConf.merge(OmegaConf.structured(params_cls), kwargs)
    return partial(params_cls, **kwargs)


__all__ = [cls.__name__ for cls in AVAILABLE_SCHEDULER_PARAMS.values()] + [
    "AVAILABLE_SCHEDULER_PARAMS",
    "register_scheduler_params",
    "get_scheduler_config",
]
