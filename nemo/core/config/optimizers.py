"""Optimizer parameter dataclasses: one per optimizer, documenting its arguments and defaults.

`lr` is required everywhere (OmegaConf `MISSING`, shown as `'???'`). The params registry maps
`"<optimizer name>_params"` to a dataclass so `optim.args: {name: auto, ...}` can find it.
"""

from dataclasses import dataclass
from functools import partial
from typing import Any, Dict, Optional, Tuple

from omegaconf import MISSING, OmegaConf


@dataclass
class OptimizerParams:
    """Base of all optimizer params: just the (required) learning rate."""

    lr: Optional[float] = MISSING


@dataclass
class SGDParams(OptimizerParams):
    momentum: float = 0
    dampening: float = 0
    weight_decay: float = 0
    nesterov: bool = False


@dataclass
class AdamParams(OptimizerParams):
    # Like NeMo, no `betas` field: Adam's own default (0.9, 0.999) applies unless given in the config.
    eps: float = 1e-08
    weight_decay: float = 0
    amsgrad: bool = False


@dataclass
class AdamWParams(OptimizerParams):
    betas: Tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-08
    weight_decay: float = 0
    amsgrad: bool = False


@dataclass
class AdadeltaParams(OptimizerParams):
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0


@dataclass
class AdamaxParams(OptimizerParams):
    betas: Tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0


@dataclass
class AdagradParams(OptimizerParams):
    lr_decay: float = 0
    weight_decay: float = 0
    initial_accumulator_value: float = 0
    eps: float = 1e-10


@dataclass
class RMSpropParams(OptimizerParams):
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0
    momentum: float = 0
    centered: bool = False


@dataclass
class RpropParams(OptimizerParams):
    etas: Tuple[float, float] = (0.5, 1.2)
    step_sizes: Tuple[float, float] = (1e-6, 50)


@dataclass
class NovogradParams(OptimizerParams):
    betas: Tuple[float, float] = (0.95, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0
    grad_averaging: bool = False
    amsgrad: bool = False
    luc: bool = False
    luc_trust: float = 1e-3
    luc_eps: float = 1e-8


AVAILABLE_OPTIMIZER_PARAMS: Dict[str, type] = {
    "optim_params": OptimizerParams,
    "adam_params": AdamParams,
    "novograd_params": NovogradParams,
    "sgd_params": SGDParams,
    "adadelta_params": AdadeltaParams,
    "adamax_params": AdamaxParams,
    "adagrad_params": AdagradParams,
    "adamw_params": AdamWParams,
    "rmsprop_params": RMSpropParams,
    "rprop_params": RpropParams,
}


def register_optimizer_params(name: str, optimizer_params: type) -> None:
    """Add a params dataclass under `name` (conventionally `"<optimizer name>_params"`)."""
    if name in AVAILABLE_OPTIMIZER_PARAMS:
        raise ValueError(f"Cannot override pre-existing optimizer parameters. Conflicting name = {name}")
    AVAILABLE_OPTIMIZER_PARAMS[name] = optimizer_params


def get_optimizer_config(name: Optional[str], **kwargs: Any):
    """`partial(<params class>, **kwargs)` after checking `kwargs` against the dataclass's fields and types.

    `name=None` returns `kwargs` unchanged (nothing to validate against).
    """
    if name is None:
        return kwargs
    if name not in AVAILABLE_OPTIMIZER_PARAMS:
        raise ValueError(
            f"Cannot resolve optimizer parameters '{name}'. Available optimizer parameters are: "
            f"{sorted(AVAILABLE_OPTIMIZER_PARAMS)}"
        )
    params_cls = AVAILABLE_OPTIMIZER_PARAMS[name]
    if kwargs:
        # Merging into a structured config rejects unknown keys and wrongly typed values.
        OmegaConf.merge(OmegaConf.structured(params_cls), kwargs)
    return partial(params_cls, **kwargs)


__all__ = [
    "OptimizerParams",
    "SGDParams",
    "AdamParams",
    "AdamWParams",
    "AdadeltaParams",
    "AdamaxParams",
    "AdagradParams",
    "RMSpropParams",
    "RpropParams",
    "NovogradParams",
    "AVAILABLE_OPTIMIZER_PARAMS",
    "register_optimizer_params",
    "get_optimizer_config",
]
