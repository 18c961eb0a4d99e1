"""Several validation/test loaders per model and NeMo's metric naming for them."""

import copy
from typing import Any, Dict, Optional

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from nemo.utils.model_utils import parse_dataset_as_name, resolve_dataset_name_from_cfg

_NAMES = {
    "validation": ("_validation_dl", "_validation_names", "_val_dl_idx", "val_dl_idx", "setup_validation_data", "val"),
    "test": ("_test_dl", "_test_names", "_test_dl_idx", "test_dl_idx", "setup_test_data", "test"),
}


def setup_multiple(model, kind: str, data_config) -> None:
    """Call `setup_<kind>_data` once per dataset in `data_config` and name each loader."""
    dl_attr, names_attr, idx_attr, idx_key, setup_name, short = _NAMES[kind]
    setattr(model, idx_attr, 0)
    setattr(model, names_attr, None)
    setattr(model, dl_attr, None)
    if isinstance(data_config, dict):
        data_config = OmegaConf.create(data_config)
    model._update_dataset_config(kind, data_config)
    model._multi_dataset_mode = True
    try:
        _resolve(model, data_config, dl_attr, names_attr, idx_attr, idx_key, getattr(model, setup_name))
    finally:
        model._multi_dataset_mode = False
    loaders = getattr(model, dl_attr)
    if getattr(model, names_attr) is None and isinstance(loaders, (list, tuple)):
        setattr(model, names_attr, [f"{short}_{i}_" for i in range(len(loaders))])


def _resolve(model, section: DictConfig, dl_attr, names_attr, idx_attr, idx_key, setup) -> None:
    section = copy.deepcopy(section)
    with open_dict(section):
        dl_idx = section.pop(idx_key, 0)
    setattr(model, idx_attr, dl_idx)
    short = _NAMES["validation" if dl_attr == "_validation_dl" else "test"][5]
    key = resolve_dataset_name_from_cfg(section)
    if key is None or dl_idx < 0:
        setup(section)
        return
    value = section[key]
    if isinstance(value, (ListConfig, list)):
        loaders, names = [], []
        for item in value:
            if isinstance(item, (DictConfig, dict)):
                sub = OmegaConf.create(item)
                names.append(sub.get("name"))
            else:
                sub = copy.deepcopy(section)
                with open_dict(sub):
                    sub[key] = item
                names.append(None)
            setup(sub)
            loaders.append(getattr(model, dl_attr))
        setattr(model, dl_attr, loaders)
        given = section.get("name")
        if any(n is not None for n in names):
            final = [str(n) for n in names]
        elif isinstance(given, (ListConfig, list)) and len(given) > 0:
            if len(given) != len(value):
                raise ValueError(f"`name` lists {len(given)} names for {len(value)} datasets")
            final = [parse_dataset_as_name(n) for n in given]
        else:
            final = [_name_or_default(v, short, i) for i, v in enumerate(value)]
        setattr(model, names_attr, final)
    else:
        setup(section)
        given = section.get("name")
        if given is not None and not isinstance(given, str):
            raise ValueError("`name` of a single dataset must be a string")
        setattr(model, names_attr, [parse_dataset_as_name(given) if given else _name_or_default(value, short, 0)])
    if len(set(getattr(model, names_attr))) != len(getattr(model, names_attr)):
        from nemo.utils import logging

        logging.warning(f"duplicate dataloader names {getattr(model, names_attr)}")


def _name_or_default(value, short: str, index: int) -> str:
    """The metric prefix a manifest path gives, or `val_<i>_` when it gives none (e.g. `manifest.json`)."""
    try:
        return parse_dataset_as_name(value)
    except ValueError:
        return f"{short}_{index}_"


def empty_outputs(loaders) -> list:
    """`[]` for one loader, a list of empty lists for several."""
    if isinstance(loaders, (list, tuple)) and len(loaders) > 1:
        return [[] for _ in loaders]
    return []


def epoch_end(model, short: str, sync_metrics: bool) -> Optional[Dict[str, Any]]:
    """Aggregate step outputs per loader and log them under NeMo's names."""
    kind = "validation" if short == "val" else "test"
    outputs_attr = f"_{kind}_step_outputs"
    outputs = getattr(model, f"{kind}_step_outputs")
    if not outputs:
        return {}
    aggregate = model.multi_validation_epoch_end if kind == "validation" else model.multi_test_epoch_end
    log_kwargs = {"on_epoch": True}
    if kind == "validation":
        log_kwargs["sync_dist"] = sync_metrics
    if isinstance(outputs[0], dict):
        result = aggregate(outputs, dataloader_idx=0) or {}
        if "log" in result:
            model.log_dict(result.pop("log"), **log_kwargs)
        setattr(model, outputs_attr, None)
        return result
    names = model._validation_names if kind == "validation" else model._test_names
    main_idx = model._val_dl_idx if kind == "validation" else model._test_dl_idx
    loss_key = f"{short}_loss"
    result: Dict[str, Any] = {}
    merged_log: Dict[str, Any] = {}
    for i, loader_outputs in enumerate(outputs):
        prefix = names[i]
        d = (aggregate(loader_outputs, dataloader_idx=i) if loader_outputs else None) or {}
        if loss_key in d and i == main_idx and loss_key not in result:
            result[loss_key] = d[loss_key]
        for k, v in d.items():
            if k == "log":
                for kl, vl in v.items():
                    if kl not in merged_log and i == main_idx:
                        merged_log[kl] = vl
                    merged_log[prefix + kl] = vl
            else:
                result[prefix + k] = v
    if merged_log:
        model.log_dict(merged_log, **log_kwargs)
    setattr(model, outputs_attr, None)
    return result
