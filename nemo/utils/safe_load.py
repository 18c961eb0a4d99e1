"""Load Lightning checkpoints NVIDIA NeMo wrote (pickled OmegaConf configs) with `weights_only=True`.

A NeMo `.ckpt` pickles its config as `DictConfig` objects whose metadata names NeMo's config dataclasses. Instead of
falling back to full unpickling, the pickle's globals are listed first (without running it) and only data-like
ones are allowed: OmegaConf containers and nodes, builtin containers, `typing` names, and `nemo.*` config
dataclasses. A dataclass NeMo has and this package lacks stands in as `dict`, which is what such a config node is.
Anything else is refused with its name.
"""

import contextlib
import dataclasses
import enum
import importlib
import io
import pickletools
import zipfile
from typing import Callable, Iterator, List, Set, Tuple, Union

import torch

from nemo.utils.exceptions import UnsafeArchiveError

_OMEGACONF = {
    "omegaconf.dictconfig": ("DictConfig",),
    "omegaconf.listconfig": ("ListConfig",),
    "omegaconf.base": ("ContainerMetadata", "Metadata"),
    "omegaconf.nodes": ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "BytesNode", "PathNode",
                        "EnumNode"),
}
_PLAIN = {
    "builtins": ("dict", "list", "tuple", "set", "frozenset", "int", "float", "bool", "str", "bytes", "complex"),
    "collections": ("OrderedDict", "defaultdict"),
    "typing": ("Any", "List", "Dict", "Tuple", "Optional", "Union", "Sequence", "Mapping", "Set"),
}
_LEGACY_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_LEGACY_NAMES = {"unicode": "str", "long": "int"}


def pickle_globals(path: str) -> Set[str]:
    """`module.name` of every class or function a torch checkpoint's pickle refers to (read, not run)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("data.pkl")]
            return _globals(io.BytesIO(z.read(names[0]) if names else b""))
    with open(path, "rb") as f:  # the legacy format: several pickles, then raw storage bytes
        return _globals(f)


def _more(stream) -> bool:
    pos = stream.tell()
    more = bool(stream.read(1))
    stream.seek(pos)
    return more


def _globals(stream) -> Set[str]:
    found, strings = set(), []
    try:
        while _more(stream):
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    module, name = arg.split(" ", 1)
                    found.add(f"{_LEGACY_MODULES.get(module, module)}.{_LEGACY_NAMES.get(name, name)}")
                elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(arg)
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.add(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # past the last pickle (storage bytes) or truncated: torch.load reports real damage
        pass
    return found


def _resolve(qualified: str):
    module, _, name = qualified.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def allowed_globals(names: Set[str]) -> List[Union[Callable, Tuple[Callable, str]]]:
    """The safe-globals list for those names; raises `UnsafeArchiveError` naming any that is not data-like."""
    allowed, refused = [], []
    for qualified in sorted(names):
        module, _, name = qualified.rpartition(".")
        if module.split(".")[0] == "torch":
            continue  # torch's own tensor/storage rebuilders: weights_only already decides
        if name in _OMEGACONF.get(module, ()) or name in _PLAIN.get(module, ()):
            obj = _resolve(qualified)
            if obj is not None:
                allowed.append((obj, qualified))
                continue
        elif module.split(".")[0] == "nemo":
            obj = _resolve(qualified)
            if obj is None:
                allowed.append((dict, qualified))  # a NeMo config dataclass this package does not have
                continue
            if isinstance(obj, type) and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum)):
                allowed.append((obj, qualified))
                continue
        refused.append(qualified)
    if refused:
        raise UnsafeArchiveError(f"the checkpoint's pickle refers to {', '.join(refused[:5])}, which a weights-only "
                                 f"load does not run; load it with torch.load(weights_only=False) only if you trust it")
    return allowed


@contextlib.contextmanager
def checkpoint_globals(path: str) -> Iterator[None]:
    """Within the block, `torch.load(path, weights_only=True)` also accepts NeMo's pickled configs."""
    try:
        names = pickle_globals(str(path))
    except OSError:
        names = set()  # a missing or unreadable file: torch.load raises the real error
    with torch.serialization.safe_globals(allowed_globals(names)):
        yield


def load_checkpoint(path: str, map_location=None):
    """`torch.load(path, weights_only=True)` (memory-mapped when it can be) that also reads NeMo's checkpoints."""
    with checkpoint_globals(path):
        return torch.load(path, map_location=map_location, weights_only=True, mmap=zipfile.is_zipfile(path))
