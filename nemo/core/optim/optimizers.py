"""Optimizer registry: lower-case names (as used in `cfg.optim.name`) mapped to optimizer classes."""

import copy
import dataclasses
from functools import partial
from typing import Any, Dict, Optional

import torch.optim as optim
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from nemo.core.config.optimizers import AVAILABLE_OPTIMIZER_PARAMS, OptimizerParams, register_optimizer_params
from nemo.core.optim.novograd import Novograd

# Insertion order is the seed's printing order.
AVAILABLE_OPTIMIZERS: Dict[str, type] = {
    "sgd": optim.SGD,
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "adadelta": optim.Adadelta,
    "adamax": optim.Adamax,
    "adagrad": optim.Adagrad,
    "rmsprop": optim.RMSprop,
    "rprop": optim.Rprop,
    "novograd": Novograd,
}


def register_optimizer(name: str, optimizer: type, optimizer_params: Optional[type] = None) -> None:
    """Make `optimizer` usable as `optim.name: <name>`; `optimizer_params` (a dataclass) documents its args.

    The params dataclass is registered as `"<name>_params"`, which is what `args: {name: auto}` looks up.
    """
    if name in AVAILABLE_OPTIMIZERS:
        raise ValueError(f"Cannot override pre-existing optimizers. Conflicting optimizer name = {name}")
    if optimizer_params is not None and f"{name}_params" in AVAILABLE_OPTIMIZER_PARAMS:
        raise ValueError(f"Cannot override pre-existing optimizer parameters. Conflicting name = {name}_params")
    AVAILABLE_OPTIMIZERS[name] = optimizer
    if optimizer_params is not None:
        register_optimizer_params(f"{name}_params", optimizer_params)


def get_optimizer_class(name: str) -> type:
    """The class registered under `name`; an unknown name lists the known ones."""
    if name not in AVAILABLE_OPTIMIZERS:
        raise ValueError(
            f"Cannot resolve optimizer '{name}'. Available optimizers are: {list(AVAILABLE_OPTIMIZERS)}"
        )
    return AVAILABLE_OPTIMIZERS[name]


def get_optimizer(name: str, **kwargs: Any) -> partial:
    """`partial(<optimizer class>, **kwargs)`; call it with the model's parameters."""
    return partial(get_optimizer_class(name), **kwargs)


def _to_plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return OmegaConf.to_container(OmegaConf.structured(value), resolve=True)
    return copy.deepcopy(value)


def _without_missing(values: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in values.items() if v is not MISSING and v != MISSING}


def parse_optimizer_args(optimizer_name: str, optimizer_kwargs: Any) -> Dict[str, Any]:
    """Turn an `optim.args`-style config into optimizer keyword arguments.

    Accepts None, a mapping (plain kwargs; `{name: auto|<params name>, params: {...}}` filled in from the
    params dataclass; `{_target_: <params dataclass>}`), or a list of `"key=value"` strings.
    Unset (`'???'`) values such as a missing `lr` are left out rather than passed on.
    """
    if optimizer_kwargs is None:
        return {}
    kwargs = _to_plain(optimizer_kwargs)
    if isinstance(kwargs, (list, tuple)):
        kwargs = OmegaConf.to_container(OmegaConf.from_dotlist([str(item) for item in kwargs]), resolve=True)
    if not isinstance(kwargs, dict):
        raise TypeError(f"optimizer arguments must be a mapping or a list of 'key=value' strings, got {kwargs!r}")

    if "_target_" in kwargs:
        from nemo.core.classes.common import safe_instantiate

        instance = safe_instantiate(kwargs)
        return _without_missing(dict(vars(instance)))

    if "name" in kwargs:
        params_name = kwargs.pop("name")
        if params_name == "auto":
            params_name = f"{optimizer_name}_params"
        overrides = kwargs.pop("params", None)
        if overrides is None:
            overrides = kwargs
        if params_name not in AVAILABLE_OPTIMIZER_PARAMS:
            raise ValueError(
                f"Cannot resolve optimizer parameters '{params_name}'. Available optimizer parameters are: "
                f"{list(AVAILABLE_OPTIMIZER_PARAMS)}"
            )
        merged = OmegaConf.merge(OmegaConf.structured(AVAILABLE_OPTIMIZER_PARAMS[params_name]), overrides)
        return _without_missing(OmegaConf.to_container(merged, resolve=False))
    return kwargs


__all__ = [
    "AVAILABLE_OPTIMIZERS",
    "OptimizerParams",
    "register_optimizer",
    "get_optimizer",
    "get_optimizer_class",
    "parse_optimizer_args",
]
