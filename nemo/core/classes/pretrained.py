"""The pretrained-model catalogue as data: JSON files registered by collections or named by
`$NEMO_PRETRAINED_CATALOGUE`, plus entries added at run time."""

import json
import os
from typing import Dict, List, Optional

from nemo.core.classes.common import PretrainedModelInfo

_catalogue_files: List[str] = []
_runtime_entries: List[PretrainedModelInfo] = []


def register_catalogue_file(path: str) -> None:
    """Add a JSON catalogue file (a list of entries with `class`, `name`, `location`, ...)."""
    path = os.path.abspath(path)
    if path not in _catalogue_files:
        _catalogue_files.append(path)


def register_pretrained_model(info: PretrainedModelInfo) -> None:
    """Add one entry at run time; `info.class_` must be set to the class it belongs to."""
    if info.class_ is None:
        raise ValueError("register_pretrained_model: info.class_ must name the model class")
    _runtime_entries.append(info)


def _load_file(path: str) -> List[dict]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read pretrained catalogue {path}: {e}") from e
    if not isinstance(data, list):
        raise ValueError(f"pretrained catalogue {path} must hold a JSON list of entries")
    return data


def _class_name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def catalogue_for_class(cls) -> Optional[List[PretrainedModelInfo]]:
    """Entries whose class is `cls` or one of its subclasses' parents, in file order."""
    names = {_class_name(c) for c in cls.__mro__}
    names |= {getattr(c, "__name__", "") for c in cls.__mro__[:1]}
    files = list(_catalogue_files)
    env = os.environ.get("NEMO_PRETRAINED_CATALOGUE")
    if env:
        files.extend(p for p in env.split(os.pathsep) if p)
    seen: Dict[str, PretrainedModelInfo] = {}
    for path in files:
        for entry in _load_file(path):
            if entry.get("class") in names or entry.get("class") == cls.__name__:
                info = PretrainedModelInfo(
                    pretrained_model_name=entry["name"],
                    description=entry.get("description", ""),
                    location=entry["location"],
                    class_=cls,
                    aliases=entry.get("aliases"),
                    size_bytes=entry.get("size_bytes"),
                    sha256=entry.get("sha256"),
                )
                seen.setdefault(info.pretrained_model_name, info)
    for info in _runtime_entries:
        if isinstance(info.class_, type) and issubclass(cls, info.class_) or info.class_ is cls:
            seen.setdefault(info.pretrained_model_name, info)
    return list(seen.values()) or None
