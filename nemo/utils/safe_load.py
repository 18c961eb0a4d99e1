"""Load Lightning checkpoints NVIDIA NeMo wrote (pickled OmegaConf configs) with `weights_only=True`.

A NeMo `.ckpt` pickles its config as `DictConfig` objects whose metadata names NeMo's config dataclasses. Instead of
falling back to full unpickling, the pickle's globals are listed first (`scan_pickle`: its opcodes walked with a
stack and memo model, nothing run) and only data-like ones are allowed: OmegaConf containers and nodes, builtin containers, `typing` names, and `nemo.*` config
dataclasses. A dataclass NeMo has and this package lacks stands in as `dict`, which is what such a config node is.
Anything else is refused with its name.
"""

import contextlib
import dataclasses
import enum
import importlib
import io
import _compat_pickle
import os
import pickle
import pickletools
import struct
import tempfile
import types
import zipfile
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple, Union

import torch

from nemo.utils.exceptions import ArchiveError, UnsafeArchiveError

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


_MAX_INFLATE = 16  # a deflated pickle record may decompress to this multiple of its stored size (+ 1 MiB)
_MARK = object()
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_LEGACY_PICKLES = 5  # torch's legacy format: magic, protocol, sys_info, the object, storage keys; then raw bytes


class _Capped(io.RawIOBase):
    """A read-only view that never asks the file for more bytes than remain (a huge declared length can't allocate)."""

    def __init__(self, f, size: int):
        self._f, self._left, self._size = f, size, size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        target = {0: 0, 1: self._size - self._left, 2: self._size}[whence] + pos
        target = max(0, min(target, self._size))
        self._f.seek(target)
        self._left = self._size - target
        return target

    def tell(self) -> int:
        return self._size - self._left

    def readinto(self, b) -> int:
        n = min(len(b), self._left)
        if n <= 0:
            return 0
        got = self._f.readinto(memoryview(b)[:n]) or 0
        self._left -= got
        return got

    def read(self, n: int = -1) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


def scan_pickle(stream, where: str = "pickle") -> Set[str]:
    """`module.name` of every global one pickle names, found by walking its opcodes with a stack and memo model.

    Nothing is constructed or called. STACK_GLOBAL takes its operands from the modelled stack (so memoised
    strings fetched with BINGET are named correctly); memo indices are bounded by the number of opcodes read,
    so a pickle can't make an unpickler allocate a giant memo. Raises `ArchiveError` on a malformed pickle.
    """
    found: Set[str] = set()
    stack: list = []
    memo: dict = {}
    count = 0

    def pop(n: int = 1) -> list:
        if len(stack) < n:
            raise ArchiveError(f"{where}: malformed pickle (stack underflow at opcode {count})")
        out = stack[len(stack) - n:]
        del stack[len(stack) - n:]
        return out

    def pop_mark() -> None:
        while stack:
            if stack.pop() is _MARK:
                return
        raise ArchiveError(f"{where}: malformed pickle (no MARK at opcode {count})")

    try:
        for op, arg, _pos in pickletools.genops(stream):
            count += 1
            name = op.name
            if name in _STRINGS:
                stack.append(arg if isinstance(arg, str) else None)
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found.add(f"{_LEGACY_MODULES.get(module, module)}.{_LEGACY_NAMES.get(attr, attr)}")
                if name == "INST":
                    pop_mark()
                stack.append(None)
            elif name == "STACK_GLOBAL":
                module, attr = pop(2)
                if not (isinstance(module, str) and isinstance(attr, str)):
                    raise ArchiveError(f"{where}: STACK_GLOBAL at opcode {count} takes a non-string module or name")
                found.add(f"{module}.{attr}")
                stack.append(None)
            elif name in ("EXT1", "EXT2", "EXT4"):
                found.add(f"copyreg.extension_{arg}")
                stack.append(None)
            elif name in _PUTS or name == "MEMOIZE":
                index = len(memo) if name == "MEMOIZE" else arg
                if not isinstance(index, int) or index < 0 or index > count:
                    raise ArchiveError(f"{where}: memo index {index} at opcode {count} is out of range")
                if not stack or stack[-1] is _MARK:
                    raise ArchiveError(f"{where}: malformed pickle (nothing to memoise at opcode {count})")
                memo[index] = stack[-1]
            elif name in _GETS:
                if arg not in memo:
                    raise ArchiveError(f"{where}: memo index {arg} at opcode {count} was never stored")
                stack.append(memo[arg])
            elif name == "DUP":
                stack.append(pop(1)[0])
                stack.append(stack[-1])
            elif name == "MARK":
                stack.append(_MARK)
            else:
                before = op.stack_before
                if pickletools.markobject in before:
                    pop_mark()
                    pop(before.index(pickletools.markobject))
                else:
                    pop(len(before))
                stack.extend([None] * len(op.stack_after))
    except ArchiveError:
        raise
    except (ValueError, EOFError, OverflowError, MemoryError, UnicodeDecodeError, struct.error) as e:
        raise ArchiveError(f"{where}: malformed pickle at opcode {count}: {e}") from e
    return found


def pickle_globals(path: str) -> Set[str]:
    """`module.name` of every class or function a torch checkpoint's pickles refer to (read, not run)."""
    size = os.path.getsize(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            found: Set[str] = set()
            for info in z.infolist():
                if not info.filename.endswith(".pkl"):
                    continue
                limit = info.compress_size * _MAX_INFLATE + (1 << 20)
                if info.file_size > limit or info.file_size > size * _MAX_INFLATE + (1 << 20):
                    raise ArchiveError(f"{path}: record {info.filename} declares {info.file_size} bytes from "
                                       f"{info.compress_size}: refusing a decompression bomb")
                with z.open(info) as f:
                    data = f.read(info.file_size + 1)
                found |= scan_pickle(io.BytesIO(data[: info.file_size]), f"{path}:{info.filename}")
            return found
    found = set()
    with open(path, "rb") as f:
        stream = io.BufferedReader(_Capped(f, size))
        for i in range(_LEGACY_PICKLES):
            if not stream.peek(1):
                break
            found |= scan_pickle(stream, f"{path} (pickle {i + 1})")
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


def pickle_protocol(path: str) -> int:
    """The pickle protocol a torch checkpoint was written with (torch's weights-only reader takes up to 2)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("data.pkl")]
            head = z.open(names[0]).read(2) if names else b""
    else:
        with open(path, "rb") as f:
            head = f.read(2)
    return head[1] if len(head) == 2 and head[0] == 0x80 else 0


class _AllowListUnpickler(pickle.Unpickler):
    """A full-protocol unpickler whose `find_class` hands out only the objects in `allowed` (nothing is imported)."""

    allowed: Dict[str, Any] = {}

    def find_class(self, module: str, name: str):
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        qualified = f"{module}.{name}"
        if qualified not in self.allowed:
            raise UnsafeArchiveError(f"the checkpoint's pickle refers to {qualified}, which a weights-only load does "
                                     "not run; load it with torch.load(weights_only=False) only if you trust it")
        return self.allowed[qualified]


def _allow_list_module(names: Set[str]) -> types.ModuleType:
    """A `pickle_module` for `torch.load` allowing torch's weights-only globals plus `allowed_globals(names)`."""
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = dict(_get_allowed_globals())
    for entry in allowed_globals(names):
        obj, qualified = entry if isinstance(entry, tuple) else (entry, f"{entry.__module__}.{entry.__qualname__}")
        allowed[qualified] = obj
    module = types.ModuleType("nemo_allow_list_pickle")
    module.Unpickler = type("Unpickler", (_AllowListUnpickler,), {"allowed": allowed})
    module.load = lambda f, **kwargs: module.Unpickler(f, **kwargs).load()
    module.__dict__.update(HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL, UnpicklingError=pickle.UnpicklingError)
    return module


def load_checkpoint(path: str, map_location=None):
    """`torch.load(path, weights_only=True)` (memory-mapped when it can be) that also reads NeMo's checkpoints.

    Checkpoints pickled with protocol 3 or later (which torch's weights-only reader refuses) go through the same
    allow-list, enforced by `_AllowListUnpickler`, after `scan_pickle` has bounded their memo.
    """
    path = str(path)
    mmap = zipfile.is_zipfile(path)
    if pickle_protocol(path) <= 2:
        with checkpoint_globals(path):
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    module = _allow_list_module(pickle_globals(path))
    return torch.load(path, map_location=map_location, weights_only=False, pickle_module=module, mmap=mmap)


@contextlib.contextmanager
def readable_by_torch(path: str) -> Iterator[str]:
    """`path`, or a protocol-2 copy of it (read through `load_checkpoint`) when torch's weights-only reader can't."""
    path = str(path)
    try:
        protocol = pickle_protocol(path)
    except (OSError, zipfile.BadZipFile):
        protocol = 0
    if protocol <= 2:
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="nemo_ckpt_", suffix=".ckpt")
    os.close(fd)
    try:
        torch.save(load_checkpoint(path, map_location="cpu"), tmp)
        yield tmp
    finally:
        os.remove(tmp)
