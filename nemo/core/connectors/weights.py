"""Load `model_weights.ckpt` straight from a `.nemo` without extracting it or holding two copies.

A torch zip checkpoint stores each tensor's bytes uncompressed. We memory-map the archive, build
the state dict as views into the map with a restricted unpickler (only tensor-rebuild functions,
storage types and OrderedDict: nothing else can be named, so no code runs), and copy into the
model with `load_state_dict`, dropping mapped pages as soon as the modules using them are loaded.
Anything the fast path doesn't understand falls back to `torch.load(weights_only=True)`.
"""

import collections
import concurrent.futures
import contextlib
import contextvars
import ctypes
import functools
import io
import mmap
import os
import pickle
import struct
import threading
import zipfile
from typing import Dict, List, Optional, Tuple

import torch

from nemo.utils.exceptions import ArchiveError, WeightsMismatchError
from nemo.core.connectors.archive import NemoArchive, WEIGHTS_NAME
from nemo.utils import logging
from nemo.utils.safe_load import scan_pickle

MAX_INFLATE = 16  # a deflated checkpoint may declare at most this multiple of its stored size (+ 1 MiB)

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
}
_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
}
_PAGE = mmap.PAGESIZE


class _Unsupported(Exception):
    """The checkpoint uses something the fast reader does not handle; use torch.load instead."""


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, make_storage):
        super().__init__(io.BytesIO(data))
        self._make_storage = make_storage

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        try:
            return _GLOBALS[(module, name)]
        except KeyError:
            raise _Unsupported(f"{module}.{name}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _Unsupported(f"persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise _Unsupported(f"storage type {storage_type!r}")
        return self._make_storage(str(key), storage_type.dtype, int(numel))


class MappedStateDict:
    """A state dict whose tensors are views into a private memory map of the archive."""

    def __init__(self, state_dict: "collections.OrderedDict", spans: Dict[str, Tuple[int, int]], mm: mmap.mmap):
        self.state_dict = state_dict
        self.spans = spans
        self._mm = mm

    def release(self, start: int, end: int) -> None:
        """Drop mapped pages fully inside [start, end) from memory (they re-read from disk if touched)."""
        lo = -(-start // _PAGE) * _PAGE
        hi = (end // _PAGE) * _PAGE
        if hi > lo:
            self._mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


def _zip_records(stream, base: int) -> Dict[str, Tuple[int, int, int]]:
    """name -> (absolute data offset, stored size, compress type) for every zip entry."""
    try:
        zf = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise _Unsupported(f"not a torch zip checkpoint: {e}") from e
    records = {}
    end = stream.seek(0, 2)
    for info in zf.infolist():
        if info.header_offset + 30 + info.compress_size > end:
            raise ArchiveError(f"{WEIGHTS_NAME}: zip entry {info.filename!r} declares {info.compress_size} bytes "
                               f"beyond the end of the member ({end} bytes)")
        stream.seek(info.header_offset)
        header = stream.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise ArchiveError(f"{WEIGHTS_NAME}: corrupt zip entry {info.filename!r}")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        records[info.filename] = (base + info.header_offset + 30 + name_len + extra_len, info.file_size, info.compress_type)
    return records


def read_mapped_state_dict(archive: NemoArchive) -> Optional[MappedStateDict]:
    """Build a memory-mapped state dict, or None when the checkpoint needs the torch.load path."""
    path, base = archive.locate(WEIGHTS_NAME)
    size = archive.member(WEIGHTS_NAME).size
    try:
        with archive.open_member(WEIGHTS_NAME) as stream:
            records = _zip_records(stream, base)
        pkl = [n for n in records if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise _Unsupported("no single data.pkl record")
        prefix = pkl[0][: -len("data.pkl")]
        for name in (prefix + "byteorder",):
            if name in records:
                off, n, _ = records[name]
                with open(path, "rb") as f:
                    f.seek(off)
                    if f.read(n) not in (b"little",):
                        raise _Unsupported("big-endian checkpoint")
        if any(ctype != zipfile.ZIP_STORED for ctype in (r[2] for r in records.values())):
            raise _Unsupported("compressed zip entries")  # read_state_dict bounds what they may inflate to
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        file_size = len(mm)
        spans_by_storage: Dict[str, Tuple[int, int]] = {}

        def make_storage(key: str, dtype: torch.dtype, numel: int):
            rec = records.get(f"{prefix}data/{key}")
            if rec is None:
                raise ArchiveError(f"{archive.path}: {WEIGHTS_NAME} lacks the data of storage {key}")
            off, stored, _ = rec
            nbytes = numel * torch.empty((), dtype=dtype).element_size()
            if stored < nbytes or off + nbytes > min(file_size, base + size):
                raise ArchiveError(f"{archive.path}: {WEIGHTS_NAME} storage {key} is truncated")
            spans_by_storage[key] = (off, off + nbytes)
            raw = torch.frombuffer(mm, dtype=torch.uint8, count=nbytes, offset=off) if nbytes else torch.empty(0, dtype=torch.uint8)
            return torch.storage.TypedStorage(wrap_storage=raw.untyped_storage(), dtype=dtype, _internal=True)

        off, n, _ = records[pkl[0]]
        data = bytes(mm[off : off + n])
        scan_pickle(io.BytesIO(data), f"{archive.path}:{WEIGHTS_NAME}")  # bounds the memo before C's unpickler runs
        state_dict = _Unpickler(data, make_storage).load()
    except _Unsupported as e:
        logging.debug(f"fast weight reader not used for {archive.path}: {e}")
        return None
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError, RuntimeError, TypeError, AttributeError, IndexError, KeyError, OverflowError, MemoryError) as e:
        raise ArchiveError(f"{archive.path}: {WEIGHTS_NAME} is corrupt: {e}") from e
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in state_dict.items()):
        return None  # read_state_dict says what is wrong with it
    base_addr = ctypes.addressof(ctypes.c_char.from_buffer(mm)) if len(mm) else 0
    ends = dict(spans_by_storage.values())
    spans = {}
    for key, tensor in state_dict.items():
        start = tensor.untyped_storage().data_ptr() - base_addr if tensor.numel() else -1
        spans[key] = (start, ends[start]) if start in ends else (0, 0)
    return MappedStateDict(state_dict, spans, mm)


def _check_inflation(archive: NemoArchive) -> None:
    """Refuse a zip checkpoint whose entries declare far more bytes than the member holds (a deflate bomb)."""
    size = archive.member(WEIGHTS_NAME).size
    with archive.open_member(WEIGHTS_NAME) as stream:
        try:
            infos = zipfile.ZipFile(stream).infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error):
            return  # not a zip (the legacy format) or damaged: torch.load reports it
    declared = sum(info.file_size for info in infos)
    if declared > MAX_INFLATE * size + (1 << 20):
        raise ArchiveError(f"{archive.path}: {WEIGHTS_NAME} declares {declared} bytes in {size}: refusing a "
                           f"decompression bomb (at most {MAX_INFLATE}x)")


def _check_mapping(state_dict, archive: NemoArchive) -> Dict[str, torch.Tensor]:
    if not isinstance(state_dict, dict):
        raise ArchiveError(f"{archive.path}: {WEIGHTS_NAME} holds a {type(state_dict).__name__}, not a "
                           "{name: tensor} state dict")
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ArchiveError(f"{archive.path}: {WEIGHTS_NAME} is not a {{name: tensor}} state dict: entry {key!r} "
                               f"is a {type(value).__name__}")
    return state_dict


def read_state_dict(archive: NemoArchive) -> Dict[str, torch.Tensor]:
    """The plain path: `torch.load(weights_only=True)` over the member, onto CPU; a {name: tensor} mapping or an error."""
    _check_inflation(archive)
    try:
        with archive.open_member(WEIGHTS_NAME) as stream:
            state_dict = torch.load(io.BufferedReader(stream) if not isinstance(stream, io.BytesIO) else stream,
                                    map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or unsafe pickles
        raise ArchiveError(f"{archive.path}: cannot load {WEIGHTS_NAME} safely (weights_only=True): {e}") from e
    return _check_mapping(state_dict, archive)


def check_fit(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor]) -> Tuple[List[str], List[str], List[str]]:
    """Missing, unexpected and mis-shaped keys between a model and a state dict."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    misshaped = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    return missing, unexpected, misshaped


def _summary(label: str, items: List[str], limit: int = 10) -> str:
    if not items:
        return ""
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return f"\n  {label} ({len(items)}): {', '.join(items[:limit])}{more}"


def load_into(model: torch.nn.Module, archive: NemoArchive, strict: bool = True) -> Dict[str, List[str]]:
    """Copy the archive's weights into `model`; returns what was skipped when `strict=False`."""
    mapped = read_mapped_state_dict(archive)
    state_dict = mapped.state_dict if mapped is not None else read_state_dict(archive)
    missing, unexpected, misshaped = check_fit(model, state_dict)
    if missing or unexpected or misshaped:
        details = _summary("missing", missing) + _summary("unexpected", unexpected) + _summary("mis-shaped", misshaped)
        if strict:
            raise WeightsMismatchError(f"weights in {archive.path} do not fit the model built from its config:{details}")
        logging.warning(f"strict=False: skipped weights while restoring {archive.path}:{details}")
        bad = {m.split(":", 1)[0] for m in misshaped}
        state_dict = collections.OrderedDict((k, v) for k, v in state_dict.items() if k not in bad)
    if mapped is not None:
        state_dict = _read_in_place(model, mapped, archive.locate(WEIGHTS_NAME)[0], state_dict)
    handles = _release_hooks(model, mapped) if mapped is not None else []
    try:
        model.load_state_dict(state_dict, strict=False)
    except RuntimeError as e:
        raise WeightsMismatchError(f"cannot load weights from {archive.path}: {e}") from e
    finally:
        for h in handles:
            h.remove()
        if mapped is not None:
            mapped.release(0, len(mapped._mm))
    return {"missing": missing, "unexpected": unexpected, "mis_shaped": misshaped}


READ_THREADS = 4  # at most this many reader threads: restore is bound by page faults and copies, not compute
_CHUNK = 64 << 20


def _read_in_place(model: torch.nn.Module, mapped: MappedStateDict, path: str,
                   state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Read each tensor whose model twin has its layout straight from the file into the twin's memory.

    One kernel copy from the page cache into the parameter (as `torch.load` does into its own buffers), instead of
    faulting the mapped pages in and copying them again, spread over a few threads (`pread` drops the GIL). The twin
    then stands in for the mapped view, so `load_state_dict` keeps its checks and hooks; copying a tensor onto itself
    is a no-op.
    """
    own = model.state_dict(keep_vars=True)
    base_addr = ctypes.addressof(ctypes.c_char.from_buffer(mapped._mm)) if len(mapped._mm) else 0
    out = collections.OrderedDict(state_dict)
    jobs: List[Tuple[str, int, int, int]] = []  # key, destination address, file offset, bytes
    for key, src in state_dict.items():
        dst = own.get(key)
        if (dst is None or dst.device.type != "cpu" or dst.dtype != src.dtype or dst.shape != src.shape
                or not dst.is_contiguous() or not src.is_contiguous() or src.numel() == 0):
            continue
        nbytes = src.numel() * src.element_size()
        offset = src.data_ptr() - base_addr
        for done in range(0, nbytes, _CHUNK):
            jobs.append((key, dst.data_ptr() + done, offset + done, min(_CHUNK, nbytes - done)))
        out[key] = dst
    if not jobs:
        return out
    with open(path, "rb") as f:
        fd = f.fileno()

        def read(job: Tuple[str, int, int, int]) -> None:
            key, address, offset, nbytes = job
            view = memoryview((ctypes.c_char * nbytes).from_address(address)).cast("B")
            done = 0
            while done < nbytes:
                n = os.preadv(fd, [view[done:]], offset + done)
                if n <= 0:
                    raise ArchiveError(f"{path}: {WEIGHTS_NAME} ends inside tensor {key!r}")
                done += n

        workers = min(READ_THREADS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, len(jobs))
        if workers <= 1:
            for job in jobs:
                read(job)
        else:
            with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="nemo-restore") as pool:
                for _ in pool.map(read, jobs):
                    pass
    return out


def _release_hooks(model: torch.nn.Module, mapped: MappedStateDict):
    """Pre-load hooks that drop the pages of tensors whose modules have already been loaded."""
    keys = list(mapped.state_dict.keys())
    starts = [mapped.spans[k][0] if mapped.spans[k][1] else None for k in keys]
    suffix_min = [0] * (len(keys) + 1)
    suffix_min[len(keys)] = len(mapped._mm)
    for i in range(len(keys) - 1, -1, -1):
        s = starts[i]
        suffix_min[i] = suffix_min[i + 1] if s is None else min(s, suffix_min[i + 1])
    first_index: Dict[str, int] = {}
    for i, key in enumerate(keys):
        parts = key.split(".")
        for j in range(len(parts)):
            first_index.setdefault(".".join(parts[:j]) + ("." if j else ""), i)
    done = [0]

    def hook(state_dict, prefix, *args):
        i = first_index.get(prefix)
        if i is None:
            return
        safe = suffix_min[i]
        if safe > done[0]:
            mapped.release(done[0], safe)
            done[0] = safe

    register = getattr(torch.nn.Module, "_register_load_state_dict_pre_hook")
    return [register(m, hook) for m in model.modules()]


_INIT_FUNCTIONS = (  # the random fills only: cheap deterministic ones (zeros_, ones_, ...) still run
    "uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)


_SKIP_DEPTH = contextvars.ContextVar("nemo_skip_init_depth", default=0)
_PATCH_LOCK = threading.Lock()
_PATCHED: Dict[str, object] = {}  # name -> torch's function, while any thread is inside skip_init
_PATCH_USERS = [0]


def _fill_unless_skipping(original):
    @functools.wraps(original)
    def fill(tensor, *args, **kwargs):
        return tensor if _SKIP_DEPTH.get() else original(tensor, *args, **kwargs)

    fill._nemo_original = original
    return fill


@contextlib.contextmanager
def skip_init():
    """Make `torch.nn.init`'s random fills no-ops in this thread while a model whose weights all get loaded is built.

    Random initialisation of weights that are overwritten anyway dominates restore time for big models;
    parameters are still allocated, and buffers computed by constructors stay exact. Other threads keep
    initialising normally: while any thread is inside, the fills are wrappers that consult a context
    variable; the last one out puts torch's functions back.
    """
    with _PATCH_LOCK:
        if _PATCH_USERS[0] == 0:
            for name in _INIT_FUNCTIONS:
                if hasattr(torch.nn.init, name):
                    _PATCHED[name] = getattr(torch.nn.init, name)
                    setattr(torch.nn.init, name, _fill_unless_skipping(_PATCHED[name]))
        _PATCH_USERS[0] += 1
    token = _SKIP_DEPTH.set(_SKIP_DEPTH.get() + 1)
    try:
        yield
    finally:
        _SKIP_DEPTH.reset(token)
        with _PATCH_LOCK:
            _PATCH_USERS[0] -= 1
            if _PATCH_USERS[0] == 0:
                for name, fn in _PATCHED.items():
                    if getattr(getattr(torch.nn.init, name), "_nemo_original", None) is fn:
                        setattr(torch.nn.init, name, fn)
                _PATCHED.clear()
