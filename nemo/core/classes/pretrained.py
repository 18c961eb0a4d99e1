"""The pretrained-model catalogue as data, and `from_pretrained`'s name -> local path resolution.

Catalogue files are JSON lists of entries::

    [{"class": "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
      "name": "QuartzNet15x5Base-En", "description": "...", "location": "https://.../x.nemo",
      "aliases": ["..."], "size_bytes": 123, "sha256": "..."}]

They are looked up in this order, the first entry with a given name winning:
1. files named by `$NEMO_PRETRAINED_CATALOGUE` (several joined with `os.pathsep`), so a user can
   override or mirror any entry;
2. entries added with `register_pretrained_model`;
3. files added with `register_catalogue_file`;
4. `pretrained_catalogue.json` files shipped inside the `nemo` package (one per collection).

`"class"` is the defining class's dotted path (or its bare class name).
"""

import difflib
import glob
import json
import os
from dataclasses import dataclass, field
from functools import total_ordering
from typing import Any, Dict, Iterator, List, Optional, Tuple

from nemo.core.classes.targets import import_class_by_path
from nemo.utils.model_utils import resolve_subclass_pretrained_model_info  # noqa: F401  (NeMo's path is nemo.utils)


@total_ordering
@dataclass
class PretrainedModelInfo:
    """One published checkpoint: its name, description, location and (optionally) class, aliases,
    size and sha256."""

    pretrained_model_name: str
    description: str
    location: str
    class_: Any = None
    aliases: Optional[List[str]] = None
    size_bytes: Optional[int] = field(default=None, compare=False)
    sha256: Optional[str] = field(default=None, compare=False)

    def __repr__(self) -> str:
        text = (
            f"{self.__class__.__name__}(\n\tpretrained_model_name={self.pretrained_model_name},\n"
            f"\tdescription={self.description},\n\tlocation={self.location}"
        )
        if self.class_ is not None:
            text += f",\n\tclass_={self.class_}"
        return text + "\n)"

    def __hash__(self) -> int:
        return hash(self.location)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PretrainedModelInfo):
            return NotImplemented
        return hash(self) == hash(other) or self.pretrained_model_name == other.pretrained_model_name

    def __lt__(self, other: "PretrainedModelInfo") -> bool:
        return self.pretrained_model_name < other.pretrained_model_name

CATALOGUE_FILENAME = "pretrained_catalogue.json"
_catalogue_files: List[str] = []
_runtime_entries: List[PretrainedModelInfo] = []
_package_files: Optional[List[str]] = None


def register_catalogue_file(path: str) -> None:
    """Add a JSON catalogue file (a list of entries with `class`, `name`, `location`, ...)."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"register_catalogue_file: {path} does not exist")
    if path not in _catalogue_files:
        _catalogue_files.append(path)


def register_pretrained_model(info: PretrainedModelInfo, override: bool = False) -> None:
    """Add one entry at run time; `info.class_` must be the model class it belongs to.

    A second entry with the same name for the same class is an error unless `override=True`.
    """
    if not isinstance(info.class_, type):
        raise ValueError("register_pretrained_model: info.class_ must be the model class")
    for i, old in enumerate(_runtime_entries):
        if old.pretrained_model_name == info.pretrained_model_name and old.class_ is info.class_:
            if not override:
                raise ValueError(
                    f"register_pretrained_model: {info.pretrained_model_name} is already registered for "
                    f"{info.class_.__name__}; pass override=True to replace it"
                )
            _runtime_entries[i] = info
            return
    _runtime_entries.append(info)


def _package_catalogues() -> List[str]:
    global _package_files
    if _package_files is None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        _package_files = sorted(glob.glob(os.path.join(root, "**", CATALOGUE_FILENAME), recursive=True))
    return _package_files


def _load_file(path: str) -> List[dict]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read pretrained catalogue {path}: {e}") from e
    if not isinstance(data, list):
        raise ValueError(f"pretrained catalogue {path} must hold a JSON list of entries")
    for i, entry in enumerate(data):
        missing = [k for k in ("class", "name", "location") if not isinstance(entry, dict) or not entry.get(k)]
        if missing:
            raise ValueError(f"pretrained catalogue {path}: entry {i} lacks {', '.join(missing)}")
    return data


def _file_entries() -> Iterator[Tuple[str, dict]]:
    env = [p for p in os.environ.get("NEMO_PRETRAINED_CATALOGUE", "").split(os.pathsep) if p.strip()]
    for path in env:
        for entry in _load_file(os.path.expanduser(path)):
            yield "env", entry
    for path in list(_catalogue_files) + _package_catalogues():
        for entry in _load_file(path):
            yield "file", entry


def _class_names(cls) -> set:
    return {f"{cls.__module__}.{cls.__qualname__}", cls.__name__}


def _info(entry: dict, cls) -> PretrainedModelInfo:
    return PretrainedModelInfo(
        pretrained_model_name=entry["name"],
        description=entry.get("description", ""),
        location=entry["location"],
        class_=cls,
        aliases=entry.get("aliases"),
        size_bytes=entry.get("size_bytes"),
        sha256=entry.get("sha256"),
    )


def catalogue_for_class(cls) -> Optional[List[PretrainedModelInfo]]:
    """Entries registered for exactly `cls`, in priority order (None when there are none)."""
    names = _class_names(cls)
    seen: Dict[str, PretrainedModelInfo] = {}
    env_entries, file_entries = [], []
    for source, entry in _file_entries():
        if entry["class"] in names:
            (env_entries if source == "env" else file_entries).append(_info(entry, cls))
    runtime = [i for i in _runtime_entries if i.class_ is cls]
    for info in env_entries + runtime + file_entries:
        seen.setdefault(info.pretrained_model_name, info)
    return list(seen.values()) or None


def _all_entries() -> Iterator[Tuple[str, PretrainedModelInfo]]:
    """(class path, entry with class_ unset) for every entry in the catalogue, in priority order."""
    files = list(_file_entries())
    for source, entry in files:
        if source == "env":
            yield entry["class"], _info(entry, None)
    for info in _runtime_entries:
        yield f"{info.class_.__module__}.{info.class_.__qualname__}", info
    for source, entry in files:
        if source != "env":
            yield entry["class"], _info(entry, None)


def _matches(info: PretrainedModelInfo, name: str) -> bool:
    return info.pretrained_model_name == name or name in (info.aliases or [])


def find_pretrained(cls, model_name: str) -> PretrainedModelInfo:
    """The catalogue entry for `model_name` usable by `cls`, with `class_` filled in.

    Entries of `cls` itself come first; otherwise an entry of a subclass of `cls` is accepted
    (so `ModelPT.from_pretrained("QuartzNet15x5Base-En")` works). Unknown names raise an error
    that lists the closest known names.
    """
    from nemo.utils.download import UnknownModelError

    for info in cls.list_available_models() or []:
        if _matches(info, model_name):
            if info.class_ is None:
                info.class_ = cls
            return info
    other_class = None
    for class_path, info in _all_entries():
        if not _matches(info, model_name):
            continue
        if info.class_ is None:
            try:
                info.class_ = import_class_by_path(class_path, check_allowed=False)
            except Exception:  # a catalogue entry for a class that is not installed
                other_class = other_class or class_path
                continue
        if isinstance(info.class_, type) and issubclass(info.class_, cls):
            return info
        other_class = other_class or class_path
    if other_class is not None:
        raise UnknownModelError(
            f"Model {model_name} is a checkpoint of {other_class}, which is not {cls.__name__} or a subclass of it. "
            f"Call {other_class.rsplit('.', 1)[-1]}.from_pretrained({model_name!r}) instead."
        )
    known = sorted({n for _, i in _all_entries() for n in [i.pretrained_model_name, *(i.aliases or [])]})
    own = [i.pretrained_model_name for i in cls.list_available_models() or []]
    close = difflib.get_close_matches(model_name, known, n=5, cutoff=0.5)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[k] for k in difflib.get_close_matches(model_name.lower(), list(lowered), n=5, cutoff=0.5)]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    listing = f" {cls.__name__} has: {', '.join(own)}." if own else ""
    raise UnknownModelError(
        f"Model {model_name} was not found in the pretrained catalogue.{hint}{listing} "
        f"Check {cls.__name__}.list_available_models(), pass a Hugging Face repo id (`org/name`) or a local "
        ".nemo path, or add an entry with nemo.core.classes.pretrained.register_pretrained_model / "
        "$NEMO_PRETRAINED_CATALOGUE."
    )


# ----------------------------------------------------------------------------------- resolution
def _looks_like_path(name: str) -> bool:
    return (
        name.endswith(".nemo")
        or name.startswith(("/", "./", "../", "~", "\\"))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def resolve_pretrained(cls, model_name: str, refresh_cache: bool = False) -> Tuple[str, type]:
    """(local `.nemo` file or extracted folder, class to restore with) for `model_name`.

    `model_name` is a catalogue name (downloaded over HTTP(S) into the NeMo cache), a Hugging
    Face repo id `org/name` (through `huggingface_hub`), or a local `.nemo` file or folder.
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise ValueError(f"from_pretrained: model_name must be a non-empty string, got {model_name!r}")
    model_name = model_name.strip()
    if "/" not in model_name and not model_name.endswith(".nemo"):
        info = find_pretrained(cls, model_name)
        return resolve_catalogue_entry(info, refresh_cache), info.class_
    local = os.path.abspath(os.path.expanduser(model_name))
    if os.path.exists(local):
        return local, cls
    if _looks_like_path(model_name):
        from nemo.utils.exceptions import ArchiveNotFoundError

        raise ArchiveNotFoundError(
            f"from_pretrained: {local} does not exist. A local model must be an existing .nemo file or extracted "
            "folder; a Hugging Face model is named `org/name`."
        )
    from nemo.utils import hf_hub

    return hf_hub.resolve(model_name, refresh_cache=refresh_cache), cls


def resolve_catalogue_entry(info: PretrainedModelInfo, refresh_cache: bool = False) -> str:
    """Path of the cached file for `info`, downloading (resumable, verified, atomic) if needed."""
    from nemo.utils import logging
    from nemo.utils.download import (
        DownloadError,
        OfflineCacheMissError,
        cache_root,
        download,
        is_offline,
        ngc_cache_path,
        remove_cached,
        verify_file,
    )

    path = ngc_cache_path(info.pretrained_model_name, info.location)
    damaged = None
    if refresh_cache and not is_offline():
        remove_cached(path)
    elif os.path.exists(path):
        damaged = verify_file(path, sha256=info.sha256, size=info.size_bytes)
        if damaged is None:
            return path
        logging.warning(f"cached {info.pretrained_model_name} at {path} is damaged ({damaged})")
    if is_offline():
        cls_name = info.class_.__name__ if isinstance(info.class_, type) else "ModelClass"
        state = f"is damaged in the cache ({damaged})" if damaged else "is not in the cache"
        raise OfflineCacheMissError(
            f"Model {info.pretrained_model_name} {state} (cache dir {cache_root()}, expected at {path}) and offline "
            f"mode is on (HF_HUB_OFFLINE/NEMO_OFFLINE). Pre-fetch it with network access: "
            f"`{cls_name}.from_pretrained({info.pretrained_model_name!r}, return_model_file=True)` using the same "
            f"NEMO_CACHE_DIR, or download {info.location} and place it at that path."
        )
    if damaged is not None:
        logging.warning(f"downloading {info.pretrained_model_name} again")
        remove_cached(path)
    logging.info(f"Downloading {info.pretrained_model_name} from {info.location} to {path}")
    download(info.location, path, sha256=info.sha256, size=info.size_bytes)
    problem = verify_file(path)
    if problem is not None:
        remove_cached(path)
        raise DownloadError(
            f"{info.location} did not give a readable .nemo file ({problem}); it was removed from the cache. "
            "Try again; if it persists the catalogue entry is wrong."
        )
    return path
