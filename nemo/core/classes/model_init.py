"""Initialising a model from another model's weights (config `init_from_*`, spec §1.9) and the
`freeze_updates` schedule. Weights are read straight from the `.nemo` or `.ckpt`: the source model is never built."""

import os
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from nemo.utils.exceptions import ArchiveNotFoundError, ConfigError, WeightsMismatchError
from nemo.core.connectors.archive import NemoArchive
from nemo.core.connectors.weights import read_mapped_state_dict, read_state_dict
from nemo.utils import logging
from nemo.utils.safe_load import load_checkpoint

def nemo_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The full state dict (nested models included) of a `.nemo` file or extracted folder, memory-mapped."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(path):
        raise ArchiveNotFoundError(f"{path}: no such .nemo file or folder")
    archive = NemoArchive(path)
    mapped = read_mapped_state_dict(archive)
    return mapped.state_dict if mapped is not None else read_state_dict(archive)


def ckpt_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The `state_dict` of a Lightning checkpoint, loaded with `weights_only=True`."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        stored = load_checkpoint(path, map_location="cpu")
    except Exception as e:  # corrupt or pickling non-data objects
        raise WeightsMismatchError(f"{path}: cannot load the checkpoint safely (weights_only=True): {e}") from e
    if not isinstance(stored, dict) or not isinstance(stored.get("state_dict"), dict):
        raise WeightsMismatchError(f"{path}: not a Lightning checkpoint (no 'state_dict' entry)")
    return stored["state_dict"]


def load_part_of_state_dict(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor], include: Iterable[str],
                            exclude: Iterable[str], load_from_string: Optional[str] = None) -> Dict[str, List[str]]:
    """Load the keys containing any `include` substring and no `exclude` one (`strict=False`); a kept key whose
    shape differs from the model's is an error naming it. Returns the loaded and excluded keys."""
    include, exclude = list(include), list(exclude)
    own = model.state_dict()
    kept, excluded, misshaped = {}, [], []
    for key, value in state_dict.items():
        if any(s in key for s in include) and not any(s in key for s in exclude):
            if key in own and tuple(own[key].shape) != tuple(value.shape):
                misshaped.append(f"{key}: {tuple(value.shape)} vs model {tuple(own[key].shape)}")
            kept[key] = value
        else:
            excluded.append(key)
    source = load_from_string or "the given state dict"
    if misshaped:
        raise WeightsMismatchError(
            f"cannot initialise from {source}: {len(misshaped)} weights have other shapes "
            f"({'; '.join(misshaped[:5])}); add them to `exclude`")
    result = model.load_state_dict(kept, strict=False)
    loaded = [k for k in kept if k not in result.unexpected_keys]
    logging.info(f"Model checkpoint partially restored from {source}: {len(loaded)} weights loaded, "
                 f"{len(excluded)} excluded, {len(result.unexpected_keys)} not in this model")
    if excluded:
        logging.info(f"The following parameters were excluded when loading from {source}: {excluded}")
    return {"loaded": loaded, "excluded": excluded, "unexpected": list(result.unexpected_keys)}


def _entries(key: str, value, source_field: str) -> List[Tuple[str, List[str], List[str]]]:
    """(source, include, exclude) for a string value or a mapping of `{path|name, include, exclude}` entries."""
    if isinstance(value, str):
        return [(value, [""], [])]
    if not isinstance(value, (dict, DictConfig)):
        raise TypeError(f"{key} must be a string or a mapping of {{{source_field}, include, exclude}} entries, "
                        f"got {type(value).__name__}")
    entries = []
    for name, entry in value.items():
        if not isinstance(entry, (dict, DictConfig)) or entry.get(source_field) is None:
            raise ConfigError(f"{key}.{name} must be a mapping with a `{source_field}` key")
        include = list(entry.get("include", None) or [""])
        exclude = list(entry.get("exclude", None) or [])
        entries.append((str(entry[source_field]), include, exclude))
    return entries


def _pretrained_state_dict(name: str) -> Dict[str, torch.Tensor]:
    from nemo.core.classes.modelPT import ModelPT  # modelPT imports this module lazily

    return nemo_state_dict(ModelPT.from_pretrained(name, return_model_file=True))


_SOURCES = {  # config key -> (the entry field naming the source, its state-dict reader)
    "init_from_nemo_model": ("path", nemo_state_dict),
    "init_from_pretrained_model": ("name", _pretrained_state_dict),
    "init_from_ptl_ckpt": ("path", ckpt_state_dict),
}


def maybe_init_from_pretrained_checkpoint(model, cfg, map_location: str = "cpu") -> None:
    """Apply at most one of `cfg.init_from_nemo_model` / `init_from_pretrained_model` / `init_from_ptl_ckpt`
    (on global rank 0; the others get the weights when DDP broadcasts them). Skipped when resuming. Every source is
    read before anything is loaded; weights are copied onto the model's own devices (`map_location` is NeMo's
    signature, not needed here)."""
    present = [k for k in _SOURCES if cfg.get(k, None) is not None]
    if not present:
        return
    if len(present) > 1:
        raise ValueError(f"Cannot pass more than one model initialization arguments to config: {present}")
    key = present[0]
    trainer = getattr(model, "_trainer", None)
    if trainer is not None and getattr(trainer, "ckpt_path", None):
        logging.info(f"{key} ignored: resuming from {trainer.ckpt_path}")
        return
    if rank_zero_only.rank != 0:
        return
    field, read = _SOURCES[key]
    entries = [(source, read(source), inc, exc) for source, inc, exc in _entries(key, cfg[key], field)]
    for source, state_dict, include, exclude in entries:
        load_part_of_state_dict(model, state_dict, include, exclude, load_from_string=source)
        logging.info(f"Model initialized with weights from {source}")


def extract_state_dict_from(restore_path: str, save_dir: str, split_by_module: bool = False) -> Dict[str, torch.Tensor]:
    """Write a `.nemo`'s weights to `save_dir/model_weights.ckpt`, or with `split_by_module` one
    `save_dir/<top-level module>.ckpt` each with that prefix stripped; returns the full state dict."""
    state_dict = nemo_state_dict(restore_path)
    os.makedirs(save_dir, exist_ok=True)
    if not split_by_module:
        torch.save(state_dict, os.path.join(save_dir, "model_weights.ckpt"))
        return state_dict
    groups: Dict[str, Dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        groups.setdefault(head, {})[rest] = value
    for head, part in groups.items():
        torch.save(part, os.path.join(save_dir, f"{head}.ckpt"))
    return state_dict


class FreezeSchedule:
    """`cfg.freeze_updates`: sub-modules frozen for a range of updates. `u = global_step + 1`; an int `N` freezes
    while `u <= N` (-1: always), a pair `[a, b]` while `a <= u <= b` (b = -1: no end). Frozen modules stay in
    training mode (dropout, batch-norm statistics) but get no gradients."""

    def __init__(self, model, cfg):
        self.ranges: Dict[str, Tuple[int, int]] = {}
        modules = cfg.get("modules", None) or {}
        if isinstance(modules, DictConfig):
            modules = OmegaConf.to_container(modules, resolve=True)
        for name, spec in modules.items():
            if not isinstance(getattr(model, name, None), torch.nn.Module):
                raise ConfigError(f"freeze_updates.modules.{name}: the model has no sub-module `{name}`")
            if isinstance(spec, int) and not isinstance(spec, bool):
                self.ranges[name] = (1, spec)
            elif isinstance(spec, (list, tuple)) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
                self.ranges[name] = (spec[0], spec[1])
            else:
                raise ConfigError(f"freeze_updates.modules.{name} must be an int or a pair [start, end], got {spec!r}")
        self.frozen: Dict[str, Dict[str, bool]] = {}

    def update(self, model, global_step: int) -> None:
        u = global_step + 1
        for name, (start, end) in self.ranges.items():
            want = start <= u and (end == -1 or u <= end)
            module = getattr(model, name)
            if want and name not in self.frozen:
                self.frozen[name] = {n: p.requires_grad for n, p in module.named_parameters()}
                module.requires_grad_(False)
                module.train()
            elif not want and name in self.frozen:
                flags = self.frozen.pop(name)
                for n, p in module.named_parameters():
                    p.requires_grad_(flags.get(n, True))
