"""Learning-rate policies (warmup / hold / anneal), the scheduler registry and `prepare_lr_scheduler`.

Every policy is a torch `LRScheduler` whose LR at step `s` is a pure function of `s` and the group's base
LR; the formulas follow the project spec §8 (NeMo's behaviour, with its per-group bugs fixed).
"""

import copy
import dataclasses
import inspect
import math
import warnings
from functools import partial
from typing import Any, Dict, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LRScheduler

from nemo.core.config.schedulers import AVAILABLE_SCHEDULER_PARAMS, register_scheduler_params
from nemo.utils import logging


class MaxStepsUnavailableError(ValueError):
    """A scheduler needs `max_steps` and neither the config nor a trainer/loader provides it."""


def _steps(steps: Optional[float], ratio: Optional[float], max_steps: Optional[int], what: str) -> int:
    """`steps`, or `int(ratio * max_steps)`, or 0; giving both is an error."""
    if steps is not None and ratio is not None:
        raise ValueError(f"Give either {what}_steps or {what}_ratio, not both (got {steps} and {ratio}).")
    if ratio is not None:
        if max_steps is None:
            raise ValueError(f"{what}_ratio={ratio} needs max_steps to be known.")
        return int(ratio * max_steps)
    return int(steps) if steps is not None else 0


def _require_max_steps(cls_name: str, max_steps: Optional[int]) -> int:
    if max_steps is None or max_steps <= 0:
        raise ValueError(f"{cls_name} needs a positive max_steps (got {max_steps!r}).")
    return int(max_steps)


def _group_base_lrs(optimizer, last_epoch: int):
    return [g["initial_lr"] if last_epoch >= 0 and "initial_lr" in g else g["lr"] for g in optimizer.param_groups]


class _StepPolicy(LRScheduler):
    """Base: `lr(step, base_lr)` per param group; subclasses implement `_lr_at`."""

    def get_lr(self):
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, use `get_last_lr()`.", UserWarning)
        return [self._lr_at(self.last_epoch, base_lr) for base_lr in self.base_lrs]

    def _lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError


class WarmupPolicy(_StepPolicy):
    """Linear warmup to the base LR over `W` steps, then the policy's decay; `min_lr` after `max_steps`."""

    def __init__(self, optimizer, *, warmup_steps=None, warmup_ratio=None, max_steps=None, min_lr=0.0, last_epoch=-1):
        self.max_steps = max_steps
        self.warmup_steps = _steps(warmup_steps, warmup_ratio, max_steps, "warmup")
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def _warmup(self, step, base_lr):
        return base_lr * (step + 1) / (self.warmup_steps + 1)

    def _lr_at(self, step, base_lr):
        if self.warmup_steps > 0 and step <= self.warmup_steps:
            return self._warmup(step, base_lr)
        if self.max_steps is not None and step > self.max_steps:
            return self.min_lr
        return self._decay(step, base_lr)

    def _decay(self, step, base_lr):
        return base_lr


class WarmupHoldPolicy(WarmupPolicy):
    """Warmup, then hold the base LR until step `H = W + hold`, then the policy's decay."""

    def __init__(
        self,
        optimizer,
        *,
        warmup_steps=None,
        warmup_ratio=None,
        hold_steps=None,
        hold_ratio=None,
        max_steps=None,
        min_lr=0.0,
        last_epoch=-1,
    ):
        warmup = _steps(warmup_steps, warmup_ratio, max_steps, "warmup")
        self.hold_steps = _steps(hold_steps, hold_ratio, max_steps, "hold") + warmup
        super().__init__(optimizer, warmup_steps=warmup, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch)

    def _lr_at(self, step, base_lr):
        if self.warmup_steps > 0 and step <= self.warmup_steps:
            return self._warmup(step, base_lr)
        if step < self.hold_steps:
            return base_lr
        if self.max_steps is not None and step > self.max_steps:
            return self.min_lr
        return self._decay(step, base_lr)


class SquareAnnealing(WarmupPolicy):
    """`max(B * ((M - s) / (M - W))**2, min_lr)` after warmup."""

    def __init__(self, optimizer, *, max_steps, min_lr=1e-5, warmup_steps=None, warmup_ratio=None, last_epoch=-1):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, max_steps=max_steps,
                         min_lr=min_lr, last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        frac = (self.max_steps - step) / (self.max_steps - self.warmup_steps)
        return max(base_lr * frac**2, self.min_lr)


class SquareRootAnnealing(WarmupPolicy):
    """`max(B * sqrt((M - s) / M), min_lr)` after warmup (NeMo: not warmup-relative)."""

    def __init__(self, optimizer, *, max_steps, min_lr=0.0, warmup_steps=None, warmup_ratio=None, last_epoch=-1):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, max_steps=max_steps,
                         min_lr=min_lr, last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        return max(base_lr * ((self.max_steps - step) / self.max_steps) ** 0.5, self.min_lr)


class CosineAnnealing(WarmupPolicy):
    """Warmup, cosine decay from B to `min_lr`, optionally a final constant phase (`constant_steps`)."""

    def __init__(
        self,
        optimizer,
        *,
        max_steps,
        min_lr=0.0,
        warmup_steps=None,
        warmup_ratio=None,
        constant_steps=None,
        constant_ratio=None,
        last_epoch=-1,
    ):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        self.constant_steps = _steps(constant_steps, constant_ratio, max_steps, "constant")
        for i, base_lr in enumerate(_group_base_lrs(optimizer, last_epoch)):
            if base_lr < min_lr:
                raise ValueError(
                    f"CosineAnnealing: param group {i} has lr {base_lr}, lower than min_lr {min_lr}."
                )
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, max_steps=max_steps,
                         min_lr=min_lr, last_epoch=last_epoch)

    def _warmup(self, step, base_lr):
        if self.constant_steps > 0:  # Megatron style: warmup starts at 0
            return base_lr * step / self.warmup_steps
        return base_lr * (step + 1) / (self.warmup_steps + 1)

    def _lr_at(self, step, base_lr):
        if self.warmup_steps > 0 and step <= self.warmup_steps:
            return self._warmup(step, base_lr)
        if step > self.max_steps or (self.constant_steps > 0 and step > self.max_steps - self.constant_steps):
            return self.min_lr
        return self._decay(step, base_lr)

    def _decay(self, step, base_lr):
        decay_steps = self.max_steps - (self.constant_steps + self.warmup_steps)
        ratio = (step - self.warmup_steps) / decay_steps
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))


class NoamAnnealing(_StepPolicy):
    """Transformer schedule: `B * d_model**-0.5 * min(t**-0.5, t * W**-1.5)`; no cut-off at max_steps."""

    def __init__(
        self, optimizer, *, d_model, warmup_steps=None, warmup_ratio=None, max_steps=None, min_lr=0.0, last_epoch=-1
    ):
        if d_model is None:
            raise ValueError("NoamAnnealing needs d_model (the model width).")
        self.d_model = d_model
        self.max_steps = max_steps
        self.warmup_steps = _steps(warmup_steps, warmup_ratio, max_steps, "warmup")
        self.min_lr = min_lr
        for i, base_lr in enumerate(_group_base_lrs(optimizer, last_epoch)):
            if base_lr < min_lr:
                raise ValueError(f"NoamAnnealing: param group {i} has lr {base_lr}, lower than min_lr {min_lr}.")
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, step, base_lr):
        t = max(1, step)
        scale = self.d_model**-0.5
        if self.warmup_steps > 0:
            lr = base_lr * scale * min(t**-0.5, t * self.warmup_steps**-1.5)
        else:
            lr = base_lr * scale * t**-0.5
        return max(lr, self.min_lr) if t > self.warmup_steps else lr


class NoamHoldAnnealing(WarmupHoldPolicy):
    """Warmup, hold, then `B * W**r / (s - hold)**r` decay (r = `decay_rate`), floored at `min_lr`."""

    def __init__(
        self,
        optimizer,
        *,
        max_steps,
        decay_rate=0.5,
        min_lr=0.0,
        warmup_steps=None,
        warmup_ratio=None,
        hold_steps=None,
        hold_ratio=None,
        last_epoch=-1,
    ):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        if not _steps(warmup_steps, warmup_ratio, max_steps, "warmup"):
            raise ValueError("Noam scheduler cannot be used without warmup steps")
        self.decay_rate = decay_rate
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, hold_steps=hold_steps,
                         hold_ratio=hold_ratio, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        hold = self.hold_steps - self.warmup_steps
        r = self.decay_rate
        return max(base_lr * max(1.0, self.warmup_steps**r) / max(1.0, (step - hold) ** r), self.min_lr)


class WarmupAnnealing(WarmupPolicy):
    """Warmup, then linear decay from each group's base LR to `min_lr` at `max_steps`."""

    def __init__(self, optimizer, *, max_steps, min_lr=0.0, warmup_steps=None, warmup_ratio=None, last_epoch=-1):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, max_steps=max_steps,
                         min_lr=min_lr, last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        progress = (step - self.warmup_steps) / (self.max_steps - self.warmup_steps)
        return self.min_lr + (1.0 - progress) * (base_lr - self.min_lr)


class InverseSquareRootAnnealing(WarmupPolicy):
    """Warmup, then `B / sqrt((s + 1) / (W + 1))`; `min_lr` only after `max_steps`."""

    def __init__(self, optimizer, *, max_steps, min_lr=0.0, warmup_steps=None, warmup_ratio=None, last_epoch=-1):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, max_steps=max_steps,
                         min_lr=min_lr, last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        return base_lr / ((step + 1) / (self.warmup_steps + 1)) ** 0.5


class T5InverseSquareRootAnnealing(_StepPolicy):
    """T5's absolute schedule `1 / sqrt(max(s, C))` (the base LR is not used); `min_lr` after `max_steps`."""

    def __init__(self, optimizer, *, max_steps, constant_steps=None, constant_ratio=None, min_lr=0.0, last_epoch=-1):
        self.max_steps = _require_max_steps(type(self).__name__, max_steps)
        self.constant_steps = _steps(constant_steps, constant_ratio, max_steps, "constant")
        if self.constant_steps <= 0:
            raise ValueError("T5InverseSquareRootAnnealing needs constant_steps or constant_ratio (> 0).")
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, step, base_lr):
        if step <= self.constant_steps:
            return 1.0 / self.constant_steps**0.5
        if step > self.max_steps:
            return self.min_lr
        return 1.0 / step**0.5


def _poly(base_lr, min_lr, step, decay_steps, power, cycle):
    if decay_steps <= 0:  # nothing left to decay over
        return min_lr
    if cycle:
        decay_steps = decay_steps * (1 if step == 0 else math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (base_lr - min_lr) * (1.0 - step / decay_steps) ** power + min_lr


class PolynomialDecayAnnealing(WarmupPolicy):
    """Warmup, then `(B - min_lr) * (1 - t / D)**power + min_lr` with t, D counted from the end of warmup."""

    def __init__(
        self, optimizer, *, max_steps, min_lr=0.0, power=1.0, cycle=False, warmup_steps=None, warmup_ratio=None,
        last_epoch=-1,
    ):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        self.power, self.cycle = power, cycle
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, max_steps=max_steps,
                         min_lr=min_lr, last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        return _poly(base_lr, self.min_lr, step - self.warmup_steps, self.max_steps - self.warmup_steps,
                     self.power, self.cycle)


class _HoldAnnealing(WarmupHoldPolicy):
    """Shared constructor of the warmup-hold-decay policies that need `max_steps`."""

    def __init__(
        self, optimizer, *, max_steps, min_lr=0.0, warmup_steps=None, warmup_ratio=None, hold_steps=None,
        hold_ratio=None, last_epoch=-1,
    ):
        max_steps = _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio, hold_steps=hold_steps,
                         hold_ratio=hold_ratio, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch)

    def _progress(self, step):
        """Fraction of the decay phase done at `step` (1.0 when the hold reaches max_steps)."""
        span = self.max_steps - self.hold_steps
        return (step - self.hold_steps) / span if span > 0 else 1.0


class PolynomialHoldDecayAnnealing(_HoldAnnealing):
    """Warmup, hold, then polynomial decay counted from the end of the hold."""

    def __init__(
        self, optimizer, *, max_steps, min_lr=0.0, power=1.0, cycle=False, warmup_steps=None, warmup_ratio=None,
        hold_steps=None, hold_ratio=None, last_epoch=-1,
    ):
        self.power, self.cycle = power, cycle
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, warmup_steps=warmup_steps,
                         warmup_ratio=warmup_ratio, hold_steps=hold_steps, hold_ratio=hold_ratio,
                         last_epoch=last_epoch)

    def _decay(self, step, base_lr):
        decay_steps = self.max_steps - max(self.warmup_steps, self.hold_steps)
        return _poly(base_lr, self.min_lr, step - self.hold_steps, decay_steps, self.power, self.cycle)


class WarmupHoldAnnealLinear(_HoldAnnealing):
    """Warmup, hold, then linear decay from B to `min_lr` at `max_steps`."""

    def _decay(self, step, base_lr):
        return base_lr - (base_lr - self.min_lr) * self._progress(step)


class WarmupHoldAnnealOneMinusSquareRoot(_HoldAnnealing):
    """Warmup, hold, then `max(min_lr, B * (1 - sqrt(progress)))`."""

    def _decay(self, step, base_lr):
        return max(self.min_lr, base_lr * (1.0 - self._progress(step) ** 0.5))


# The seed's fourteen in the seed's printing order, then the policies NeMo added later.
AVAILABLE_SCHEDULERS: Dict[str, type] = {
    "WarmupPolicy": WarmupPolicy,
    "WarmupHoldPolicy": WarmupHoldPolicy,
    "SquareAnnealing": SquareAnnealing,
    "CosineAnnealing": CosineAnnealing,
    "NoamAnnealing": NoamAnnealing,
    "WarmupAnnealing": WarmupAnnealing,
    "InverseSquareRootAnnealing": InverseSquareRootAnnealing,
    "SquareRootAnnealing": SquareRootAnnealing,
    "PolynomialDecayAnnealing": PolynomialDecayAnnealing,
    "PolynomialHoldDecayAnnealing": PolynomialHoldDecayAnnealing,
    "StepLR": torch.optim.lr_scheduler.StepLR,
    "ExponentialLR": torch.optim.lr_scheduler.ExponentialLR,
    "ReduceLROnPlateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
    "CyclicLR": torch.optim.lr_scheduler.CyclicLR,
    "NoamHoldAnnealing": NoamHoldAnnealing,
    "WarmupHoldAnnealOneMinusSquareRoot": WarmupHoldAnnealOneMinusSquareRoot,
    "WarmupHoldAnnealLinear": WarmupHoldAnnealLinear,
    "T5InverseSquareRootAnnealing": T5InverseSquareRootAnnealing,
}

# Stepped once per epoch by Lightning unless `sched.interval` says otherwise; all others once per optimizer step.
EPOCH_SCHEDULERS = {"ExponentialLR", "ReduceLROnPlateau"}


def register_scheduler(name: str, scheduler: type, scheduler_params: Optional[type] = None) -> None:
    """Make `scheduler` usable as `sched.name: <name>`; its params dataclass is registered as `"<name>Params"`."""
    if name in AVAILABLE_SCHEDULERS:
        raise ValueError(f"Cannot override pre-existing schedulers. Conflicting scheduler name = {name}")
    if scheduler_params is not None and f"{name}Params" in AVAILABLE_SCHEDULER_PARAMS:
        raise ValueError(f"Cannot override pre-existing scheduler parameters. Conflicting name = {name}Params")
    AVAILABLE_SCHEDULERS[name] = scheduler
    if scheduler_params is not None:
        register_scheduler_params(f"{name}Params", scheduler_params)


def get_scheduler_class(name: str) -> type:
    """The class registered under `name`; an unknown name lists the known ones."""
    if name not in AVAILABLE_SCHEDULERS:
        raise ValueError(f"Cannot resolve scheduler '{name}'. Available schedulers are: {list(AVAILABLE_SCHEDULERS)}")
    return AVAILABLE_SCHEDULERS[name]


def _accepted_args(cls) -> Optional[Dict[str, inspect.Parameter]]:
    """Keyword arguments `cls(optimizer, ...)` accepts, or None when it takes `**kwargs`."""
    params = list(inspect.signature(cls).parameters.values())[1:]  # drop the optimizer / params argument
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name: p for p in params if p.kind is not p.VAR_POSITIONAL}


def get_scheduler(name: str, **kwargs: Any) -> partial:
    """`partial(<scheduler class>, **kwargs)`, dropping `max_steps` for classes that do not take it."""
    cls = get_scheduler_class(name)
    accepted = _accepted_args(cls)
    if accepted is not None and "max_steps" not in accepted:
        kwargs.pop("max_steps", None)
    return partial(cls, **kwargs)


def check_kwargs(kind: str, name: str, cls, kwargs: Dict[str, Any], provided: tuple = ()) -> None:
    """Raise a ValueError naming unknown or missing arguments of `cls(first, **kwargs)`, with the accepted ones."""
    accepted = _accepted_args(cls)
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - set(accepted))
    missing = [
        n for n, p in accepted.items()
        if p.default is p.empty and n not in kwargs and n not in provided and p.kind is not p.POSITIONAL_ONLY
    ]
    where = f"{cls.__module__}.{cls.__qualname__}"
    if unknown:
        raise ValueError(
            f"{kind} '{name}' ({where}) does not accept argument(s) {unknown}. Accepted arguments: {sorted(accepted)}"
        )
    if missing:
        raise ValueError(f"{kind} '{name}' ({where}) needs argument(s) {missing}. Accepted arguments: {sorted(accepted)}")


def compute_max_steps(
    max_epochs, accumulate_grad_batches, limit_train_batches, num_workers, num_samples, batch_size, drop_last
) -> int:
    """Optimizer steps in `max_epochs` epochs of `num_samples` split over `num_workers` data-parallel ranks."""
    per_worker = math.ceil(num_samples / max(1, num_workers))
    steps = per_worker // batch_size if drop_last else math.ceil(per_worker / batch_size)
    if isinstance(limit_train_batches, int) or limit_train_batches == 0.0:
        steps = min(steps, int(limit_train_batches))
    else:
        steps = int(steps * limit_train_batches)
    return math.ceil(steps / accumulate_grad_batches) * max_epochs


def _loader_batch_size(loader) -> Optional[int]:
    for holder in (loader, getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)):
        for attr in ("batch_size", "micro_batch_size"):
            value = getattr(holder, attr, None) if holder is not None else None
            if isinstance(value, int) and value > 0:
                return value
    return None


def max_steps_from_loader(loader, max_epochs, accumulate_grad_batches=1, limit_train_batches=1.0, num_workers=1):
    """`compute_max_steps` for a DataLoader; falls back to `len(loader)` when samples or batch size are unknown."""
    if max_epochs is None or max_epochs < 0:
        raise ValueError(f"Cannot compute the scheduler's max_steps for max_epochs={max_epochs} (unbounded training); "
                         "set trainer.max_steps or optim.sched.max_steps.")
    if not isinstance(accumulate_grad_batches, int):
        raise ValueError("Gradient accumulation must be an integer number of batches.")
    batch_size = _loader_batch_size(loader)
    dataset = getattr(loader, "dataset", None)
    try:
        num_samples = len(dataset) if batch_size else None
    except TypeError:
        num_samples = None
    if num_samples is not None:
        return compute_max_steps(max_epochs, accumulate_grad_batches, limit_train_batches, num_workers, num_samples,
                                 batch_size, bool(getattr(loader, "drop_last", False)))
    try:
        batches = len(loader)
    except TypeError:
        raise ValueError("Cannot compute the scheduler's max_steps: the train loader has no length "
                         "(an iterable dataset?). Set optim.sched.max_steps or trainer.max_steps.") from None
    sampler = getattr(loader, "sampler", None)
    if not isinstance(sampler, torch.utils.data.distributed.DistributedSampler):
        batches = math.ceil(batches / max(1, num_workers))
    if isinstance(limit_train_batches, int) or limit_train_batches == 0.0:
        batches = min(batches, int(limit_train_batches))
    else:
        batches = int(batches * limit_train_batches)
    return math.ceil(batches / accumulate_grad_batches) * max_epochs


# Keys of `optim.sched` that configure how the scheduler is built and stepped, not the scheduler itself.
_CONTROL_KEYS = {
    "name", "args", "monitor", "reduce_on_plateau", "interval", "frequency", "max_steps",
    "t_max_epochs", "t_accumulate_grad_batches", "t_limit_train_batches", "t_num_workers",
}


def _plain(config: Any) -> Any:
    """A plain-container copy of a DictConfig, a dataclass instance or anything else (deep-copied)."""
    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return OmegaConf.to_container(OmegaConf.structured(config), resolve=True)
    return copy.deepcopy(config)


def _params_kwargs(params_name: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
    if params_name not in AVAILABLE_SCHEDULER_PARAMS:
        raise ValueError(f"Cannot resolve scheduler parameters '{params_name}'. "
                         f"Available scheduler parameters are: {list(AVAILABLE_SCHEDULER_PARAMS)}")
    merged = OmegaConf.merge(OmegaConf.structured(AVAILABLE_SCHEDULER_PARAMS[params_name]), overrides or {})
    return OmegaConf.to_container(merged, resolve=True)


def _is_unset(max_steps: Any) -> bool:
    return max_steps is None or max_steps in (-1, 0)


def _resolve_max_steps(config: Dict[str, Any], max_steps: Any, train_dataloader) -> Optional[int]:
    """An explicit positive `max_steps`, else one computed from the trainer facts (`t_*`) and the loader."""
    if isinstance(max_steps, float) and max_steps.is_integer():  # e.g. `max_steps: 1e4` in YAML
        max_steps = int(max_steps)
    if not _is_unset(max_steps):
        if not isinstance(max_steps, int) or max_steps < 0:
            raise ValueError(f"optim.sched.max_steps must be a positive integer or -1 (computed), got {max_steps!r}")
        return max_steps
    if "t_max_epochs" in config and train_dataloader is not None:
        return max_steps_from_loader(
            train_dataloader,
            max_epochs=config["t_max_epochs"],
            accumulate_grad_batches=config.get("t_accumulate_grad_batches", 1),
            limit_train_batches=config.get("t_limit_train_batches", 1.0),
            num_workers=config.get("t_num_workers", 1),
        )
    return None


def prepare_lr_scheduler(optimizer, scheduler_config: Any, train_dataloader=None) -> Optional[Dict[str, Any]]:
    """Build the scheduler described by `optim.sched` and return Lightning's lr-scheduler config dict.

    `max_steps` absent / -1 is computed from `t_*` trainer facts and `train_dataloader`; a scheduler that needs
    it but cannot get it is an error, as are unknown names and arguments. Returns None only for no config.
    """
    if scheduler_config is None:
        logging.info("Scheduler not initialized as no `sched` config supplied to setup_optimization()")
        return None
    name = None
    if dataclasses.is_dataclass(scheduler_config) and not isinstance(scheduler_config, type):
        name = type(scheduler_config).__name__.removesuffix("Params") or None
    config = _plain(scheduler_config)
    if not isinstance(config, dict):
        raise TypeError(f"optim.sched must be a mapping, got {config!r}")
    name = config.get("name", name)

    if "args" in config:
        kwargs = _plain(config["args"]) or {}
    else:
        kwargs = {k: v for k, v in config.items() if k not in _CONTROL_KEYS}
    from_params = False
    if "_target_" in kwargs:
        from nemo.core.classes.common import safe_instantiate

        params = safe_instantiate(kwargs)
        name = name or type(params).__name__.removesuffix("Params")
        kwargs, from_params = dict(vars(params)), True
    elif "name" in kwargs:  # legacy `args: {name: auto | <Params name>, params: {...}}`
        params_name = kwargs.pop("name")
        if params_name == "auto":
            params_name = f"{name}Params"
        overrides = kwargs.pop("params", None)
        kwargs, from_params = _params_kwargs(params_name, kwargs if overrides is None else overrides), True
    if not name:
        raise ValueError(f"optim.sched needs a `name`. Available schedulers are: {list(AVAILABLE_SCHEDULERS)}")
    cls = get_scheduler_class(name)
    accepted = _accepted_args(cls)
    if from_params and accepted is not None:  # a params dataclass may carry fields this class does not take
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}

    kwargs_max_steps = kwargs.pop("max_steps", None)
    max_steps = _resolve_max_steps(config, config.get("max_steps", kwargs_max_steps), train_dataloader)
    takes_max_steps = accepted is None or "max_steps" in accepted
    if max_steps is not None and takes_max_steps:
        kwargs["max_steps"] = max_steps
    elif max_steps is None and accepted is not None and "max_steps" in accepted \
            and accepted["max_steps"].default is inspect.Parameter.empty:
        why = ("there is no train dataloader to count batches in" if "t_max_epochs" in config
               else "there is no trainer to compute it from")
        raise MaxStepsUnavailableError(f"Scheduler '{name}' needs max_steps: optim.sched.max_steps is not set and {why}. "
                         "Set optim.sched.max_steps (or trainer.max_steps), or attach a trainer and training data.")
    check_kwargs("Scheduler", name, cls, kwargs)
    scheduler = cls(optimizer, **kwargs)

    interval = config.get("interval") or ("epoch" if name in EPOCH_SCHEDULERS else "step")
    if interval not in ("step", "epoch"):
        raise ValueError(f"optim.sched.interval must be 'step' or 'epoch', got {interval!r}")
    frequency = config.get("frequency", 1)
    if not isinstance(frequency, int) or frequency < 1:
        raise ValueError(f"optim.sched.frequency must be a positive integer, got {frequency!r}")
    is_plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    reduce_on_plateau = config.get("reduce_on_plateau")
    if reduce_on_plateau is None:
        reduce_on_plateau = is_plateau
    elif is_plateau and not reduce_on_plateau:
        raise ValueError(f"optim.sched.reduce_on_plateau is false but '{name}' must be stepped with a metric.")
    elif reduce_on_plateau and not is_plateau and isinstance(scheduler, LRScheduler):
        raise ValueError(f"optim.sched.reduce_on_plateau is true but '{name}' is not a plateau scheduler.")

    logging.info(f"Scheduler '{name}' will be used with effective max_steps = {max_steps}; arguments: {kwargs}")
    return {
        "scheduler": scheduler,
        "interval": interval,
        "frequency": frequency,
        "monitor": config.get("monitor") or "loss",
        "reduce_on_plateau": bool(reduce_on_plateau),
    }
