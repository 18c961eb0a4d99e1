"""`cfg.optim` -> (optimizer, Lightning lr-scheduler dict): the work behind `ModelPT.setup_optimization`."""

import copy
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import DictConfig, open_dict

from nemo.core.config.optimizers import AVAILABLE_OPTIMIZER_PARAMS
from nemo.core.optim.lr_scheduler import MaxStepsUnavailableError, _is_unset, _plain, check_kwargs, prepare_lr_scheduler
from nemo.core.optim.optimizers import get_optimizer_class, parse_optimizer_args
from nemo.utils import logging

# Keys kept from the model's optim section when a bare name switches the optimizer (`model.optim=adam`).
_KEPT_ON_SWITCH = ("lr", "sched")


def _model_cfg(model) -> Optional[DictConfig]:
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        cfg = getattr(model, "_cfg", None)
    return cfg


def _model_trainer(model):
    try:
        return model.trainer  # a LightningModule raises when no trainer is attached
    except (RuntimeError, AttributeError):
        return getattr(model, "_trainer", None)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "???")


def resolve_optim_config(model, optim_config: Any = None) -> Optional[Dict[str, Any]]:
    """The optimizer config as a plain dict: `optim_config`, else `model.cfg.optim`; None if neither exists.

    A bare optimizer name (a str, or a mapping holding only `name`) switches optimizers: the model's current
    `lr` and `sched` are kept, its optimizer-specific arguments are dropped (they belong to the old optimizer).
    """
    cfg = _model_cfg(model)
    existing = cfg.get("optim") if cfg is not None and "optim" in cfg else None
    source = optim_config if optim_config is not None else existing
    if source is None:
        return None
    config = _plain(source)
    if isinstance(config, dict) and "name" not in config and "_target_" not in config:
        config.update(_name_for_params(source))
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict):
        raise TypeError(f"optim config must be a mapping or an optimizer name, got {config!r}")
    if set(config) == {"name"}:
        config = switch_optimizer(existing, config["name"])
    return config


def switch_optimizer(optim_section: Any, name: str) -> Dict[str, Any]:
    """The optim section for `optim=<name>`: the new name with the old `lr` and `sched`, nothing else.

    The old optimizer's own arguments are dropped: they were chosen for a different algorithm.
    """
    base = _plain(optim_section) if isinstance(optim_section, (DictConfig, dict)) else {}
    return {"name": name, **{k: base[k] for k in _KEPT_ON_SWITCH if k in base}}


def _name_for_params(source: Any) -> Dict[str, str]:
    """`{'name': <optimizer>}` when `source` is an instance of a registered params dataclass, else `{}`."""
    for key, params_cls in AVAILABLE_OPTIMIZER_PARAMS.items():
        if type(source) is params_cls and key.endswith("_params") and key != "optim_params":
            return {"name": key[: -len("_params")]}
    return {}


def _persist(model, config: Dict[str, Any]) -> None:
    """Store the resolved config as `model.cfg.optim`, so `configure_optimizers` at fit() rebuilds the same."""
    cfg = _model_cfg(model)
    if isinstance(cfg, DictConfig):
        with open_dict(cfg):
            cfg.optim = copy.deepcopy(config)


def build_param_groups(model) -> List[Dict[str, Any]]:
    """One group of all parameters, or one per `cfg.optim_param_groups` entry plus a leading default group.

    `optim_param_groups: {encoder: {lr: 1e-3}}` puts `model.encoder`'s parameters in a group with those options;
    parameters of no listed sub-module form the default group, which uses the optimizer's top-level options.
    """
    cfg = _model_cfg(model)
    spec = cfg.get("optim_param_groups") if cfg is not None and "optim_param_groups" in cfg else None
    if not spec:
        return [{"params": list(model.parameters())}]
    groups, names = [], []
    for attr, options in _plain(spec).items():
        module = getattr(model, attr, None)
        if module is None:
            raise ValueError(f"optim_param_groups: '{attr}' not found in model.")
        if not hasattr(module, "parameters"):
            raise ValueError(f"optim_param_groups: '{attr}' does not have parameters.")
        groups.append({"params": list(module.parameters()), **(options or {})})
        names.append(attr)
    rest = [p for n, p in model.named_parameters() if not any(n == a or n.startswith(a + ".") for a in names)]
    return ([{"params": rest}] if rest else []) + groups


def build_optimizer(param_groups, config: Dict[str, Any], optim_kwargs: Optional[Dict[str, Any]] = None):
    """Instantiate the optimizer named by `config['name']` (default adam) or `config['_target_']`."""
    config = dict(config)
    config.pop("sched", None)
    target = config.pop("_target_", None) or config.pop("cls", None)
    name = config.pop("name", None)
    args = config.pop("args", None)
    lr = config.pop("lr", None)
    if target is not None:
        if isinstance(target, type):
            cls = target
        else:
            from nemo.core.classes.common import safe_instantiate

            factory = safe_instantiate({"_target_": target, "_partial_": True})
            cls = getattr(factory, "func", factory)
        name = name or cls.__name__.lower()
    else:
        name = name or "adam"
        cls = get_optimizer_class(name)
    kwargs = parse_optimizer_args(name, args) if args is not None else config
    kwargs.update(optim_kwargs or {})
    if _is_missing(lr):
        lr = kwargs.pop("lr", None)
    else:
        kwargs.pop("lr", None)
    if _is_missing(lr):
        raise ValueError(f"optim.lr is required: set the learning rate for optimizer '{name}' (e.g. optim.lr=0.001).")
    check_kwargs("Optimizer", name, cls, {**kwargs, "lr": lr})
    optimizer = cls(param_groups, lr=lr, **kwargs)
    logging.info(f"Optimizer config = {optimizer}")
    return optimizer


def _add_trainer_facts(sched: Dict[str, Any], trainer, train_dl) -> Dict[str, Any]:
    """Fill in what the scheduler needs from the trainer when `sched.max_steps` is absent or -1."""
    accumulate = trainer.accumulate_grad_batches
    if not isinstance(accumulate, int):
        raise ValueError(f"Gradient accumulation must be an integer number of batches, got {accumulate!r}.")
    if not _is_unset(sched.get("max_steps")):
        return sched  # an explicit value wins
    if trainer.max_steps is not None and trainer.max_steps > 0:
        sched["max_steps"] = trainer.max_steps
        return sched
    sched.update(
        t_max_epochs=trainer.max_epochs,
        t_accumulate_grad_batches=accumulate,
        t_limit_train_batches=trainer.limit_train_batches,
        t_num_workers=trainer.num_devices * trainer.num_nodes,
    )
    if train_dl is None:  # e.g. data passed to trainer.fit(): Lightning can count the batches itself
        try:
            estimate = trainer.estimated_stepping_batches
        except Exception:  # not fitting yet, or no way to size the loader
            estimate = None
        if estimate is not None and estimate != float("inf") and estimate > 0:
            sched["max_steps"] = int(estimate)
    return sched


def setup_optimization(
    model, optim_config: Any = None, optim_kwargs: Optional[Dict[str, Any]] = None
) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """Build `(optimizer, scheduler_dict_or_None)` from `optim_config` or `model.cfg.optim`.

    Returns `(None, None)` when there is no optimizer config at all.
    """
    config = resolve_optim_config(model, optim_config)
    if config is None:
        logging.info("No optimizer config provided, therefore no optimizer was created")
        return None, None
    trainer = _model_trainer(model)
    if trainer is None:
        logging.warning("Trainer wasn't specified in model constructor. Make sure that you really wanted it.")

    if callable(getattr(model, "setup_optimizer_param_groups", None)):  # a model's own grouping (NeMo hook)
        model.setup_optimizer_param_groups()
        param_groups = model._optimizer_param_groups
    else:
        param_groups = build_param_groups(model)
        if hasattr(model, "_optimizer_param_groups"):
            model._optimizer_param_groups = param_groups
    optimizer = build_optimizer(param_groups, config, optim_kwargs)

    sched = config.get("sched")
    if sched is not None:
        sched = _plain(sched)
        if trainer is not None and isinstance(sched, dict):
            sched = _add_trainer_facts(sched, trainer, getattr(model, "_train_dl", None))
    try:
        scheduler = prepare_lr_scheduler(optimizer, sched, train_dataloader=getattr(model, "_train_dl", None))
    except MaxStepsUnavailableError as e:
        if trainer is not None:
            raise
        # configure_optimizers() rebuilds from cfg.optim at fit(), when the trainer can size the schedule.
        logging.warning(f"{e} No scheduler until a trainer is attached; fit() builds it.")
        scheduler = None
    _persist(model, config)
    return optimizer, scheduler
