"""Model helpers NeMo exposes publicly: artifact records, legacy config rewrite, dataset names."""

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from omegaconf import DictConfig, ListConfig, OmegaConf


class ArtifactPathType(Enum):
    """Where an artifact lives: a file on the user's disk, or a member of a `.nemo` archive."""

    LOCAL_PATH = 0
    TAR_PATH = 1


@dataclass
class ArtifactItem:
    """One registered artifact: its real path, its kind and (after a save) its `nemo:` name."""

    path: str = ""
    path_type: ArtifactPathType = ArtifactPathType.LOCAL_PATH
    hashed_path: Optional[str] = None


def rewrite_legacy_container(node: Any) -> Any:
    """Rewrite a plain (dict/list) config in place of legacy keys: `cls` becomes `_target_`, `params` merges up."""
    if isinstance(node, dict):
        if "cls" in node and "_target_" not in node:
            node["_target_"] = node.pop("cls")
        if isinstance(node.get("params"), dict):
            params = node.pop("params")
            for k, v in params.items():
                node.setdefault(k, v)
        for k in list(node):
            node[k] = rewrite_legacy_container(node[k])
    elif isinstance(node, list):
        return [rewrite_legacy_container(v) for v in node]
    return node


def has_legacy_keys(node: Any) -> bool:
    """Whether a plain config holds anything `rewrite_legacy_container` would change."""
    if isinstance(node, dict):
        if ("cls" in node and "_target_" not in node) or isinstance(node.get("params"), dict):
            return True
        return any(has_legacy_keys(v) for v in node.values())
    if isinstance(node, list):
        return any(has_legacy_keys(v) for v in node)
    return False


def config_from_container(container: Any) -> DictConfig:
    """A struct-mode config built once from a plain container, legacy keys rewritten."""
    new = OmegaConf.create(rewrite_legacy_container(container))
    OmegaConf.set_struct(new, True)
    return new


def maybe_update_config_version(cfg: DictConfig) -> DictConfig:
    """Rewrite legacy configs: `cls` becomes `_target_`, a `params` mapping is merged into its parent.

    Returns a new struct-mode config; the input is not modified.
    """
    if not isinstance(cfg, DictConfig):
        return cfg
    return config_from_container(OmegaConf.to_container(cfg, resolve=False))


def _is_path_or_url(value) -> bool:
    if not isinstance(value, str) or not value:
        return False
    parsed = urlparse(value)
    if parsed.scheme and parsed.netloc:
        return True
    return os.path.exists(value)


def parse_dataset_as_name(name: str) -> str:
    """Turn a manifest path into a metric prefix: `dev-clean_manifest.json` -> `dev_clean_`."""
    if _is_path_or_url(name):
        name = Path(name).stem
    else:
        name = str(name)
    name = name.replace("-", "_")
    for word in ("manifest", "dataset"):
        name = name.replace(word, "")
    if not name:
        raise ValueError(
            "Provided dataset / manifest filename does not produce a usable prefix; "
            "give the data section a `name`."
        )
    if not name.endswith("_"):
        name += "_"
    return name


def resolve_dataset_name_from_cfg(cfg: DictConfig) -> Optional[str]:
    """The key of `cfg` that holds the data: `ds_item` when set, else the first existing path/URL."""
    if cfg.get("ds_item") is not None:
        return "ds_item"
    for key, value in cfg.items():
        if isinstance(value, (ListConfig, list)):
            if len(value) > 0 and all(_is_path_or_url(v) for v in value if not isinstance(v, (DictConfig, dict))):
                if any(isinstance(v, (DictConfig, dict)) for v in value) or all(_is_path_or_url(v) for v in value):
                    return key
        elif _is_path_or_url(value):
            return key
    return None


def resolve_subclass_pretrained_model_info(base_class) -> list:
    """Entries of `base_class` and all its (imported) subclasses, depth first, each with `class_`
    set to the class that lists it, without duplicates (same location or name), sorted by name."""
    found: list = []

    def walk(cls) -> None:
        for info in cls.list_available_models() or []:
            if info.class_ is None:
                info.class_ = cls
            if info not in found:
                found.append(info)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(base_class)
    return sorted(found)
