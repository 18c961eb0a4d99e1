"""Reading and writing `.nemo` archives: uncompressed POSIX tars whose members are `./<name>`.

Reading never extracts the whole archive: members are located by header offset, checked for
safety, and read in place; only artifacts that must be files are copied out, one at a time. A gzip
archive (older NeMo) is streamed once into a private temp tar, with a bound on how far it may inflate.
Writing streams every member into a temporary file private to the writer (`nemo.utils.atomic_file`)
beside the target and renames it into place, so concurrent saves to one path publish one whole archive.
"""

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import weakref
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from nemo.utils.tar_index import tar_members
from nemo.utils.exceptions import (
    ArchiveError,
    ArchiveNotFoundError,
    UnsafeArchiveError,
)

CONFIG_NAME = "model_config.yaml"
WEIGHTS_NAME = "model_weights.ckpt"
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_FIXED_MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
GZIP_MAX_RATIO = 20  # a gzip .nemo may inflate to this multiple of its size ...
GZIP_MIN_LIMIT = 16 << 20  # ... or this many bytes, whichever is more


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@dataclass(frozen=True)
class Member:
    """A regular file inside an archive: its normalised name, data offset and size."""

    name: str
    offset: int
    size: int


def _normalise(raw: str, archive: str) -> Optional[str]:
    """Member name without its `./` prefix; None for the root entry; refuses escaping names."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {raw!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"{archive}: member {raw!r} escapes the archive folder ('..')")
    if not parts:
        return None
    return "/".join(parts)


class NemoArchive:
    """Read-only view of a `.nemo` file (tar, gzip tar for old archives) or an extracted folder."""

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.exists(self.path):
            raise ArchiveNotFoundError(f"Can't find {self.path}: no such .nemo file or folder")
        self.is_dir = os.path.isdir(self.path)
        self.compressed = False
        self._members: Dict[str, Member] = {}
        self._tar_path = self.path  # where the plain tar bytes are (a private temp file for gzip archives)
        if self.is_dir:
            self._scan_folder()
        else:
            self._scan_tar()
        self.prefix = self._find_prefix()

    # ---------------------------------------------------------------- scanning
    def _scan_folder(self) -> None:
        root = Path(self.path)
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                raise UnsafeArchiveError(f"{self.path}: {rel} is a symbolic link")
            if p.is_file():
                self._members[rel] = Member(rel, 0, p.stat().st_size)

    def _scan_tar(self) -> None:
        with open(self.path, "rb") as f:
            magic = f.read(2)
        if magic == b"\x1f\x8b":
            self.compressed = True
            self._tar_path = self._inflate()
        for info in tar_members(self._tar_path, self.path):
            name = self._check_info(info)
            if name is None or info.isdir():
                continue
            self._add(name, info.offset_data, info.size)

    def _inflate(self) -> str:
        """Stream a gzip archive into a private temp tar, refusing more than `GZIP_MAX_RATIO` x its size."""
        limit = max(GZIP_MIN_LIMIT, GZIP_MAX_RATIO * os.path.getsize(self.path))
        fd, tmp = tempfile.mkstemp(prefix="nemo_gunzip_", suffix=".tar")
        weakref.finalize(self, _remove, tmp)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(self.path, "rb") as src:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > limit:
                        raise ArchiveError(
                            f"{self.path}: the gzip archive inflates beyond {limit} bytes ({GZIP_MAX_RATIO}x its size): "
                            "refusing a decompression bomb"
                        )
                    out.write(chunk)
        except ArchiveError:
            _remove(tmp)
            raise
        except (OSError, EOFError, zlib.error, ValueError) as e:
            _remove(tmp)
            raise ArchiveError(f"{self.path} is not a readable .nemo archive (gzip tar): {e}") from e
        return tmp

    def _check_info(self, info: tarfile.TarInfo) -> Optional[str]:
        name = _normalise(info.name, self.path)
        if info.issym() or info.islnk():
            raise UnsafeArchiveError(f"{self.path}: member {info.name!r} is a link")
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchiveError(f"{self.path}: member {info.name!r} is not a regular file or folder")
        return name

    def _add(self, name: str, offset: int, size: int) -> None:
        if name in self._members:
            raise ArchiveError(f"{self.path}: member {name!r} appears twice")
        self._members[name] = Member(name, offset, size)

    def _find_prefix(self) -> str:
        for name in self._members:
            if name == CONFIG_NAME or name.endswith("/" + CONFIG_NAME):
                return name[: -len(CONFIG_NAME)]
        return ""

    # ---------------------------------------------------------------- access
    def names(self) -> List[str]:
        """Member names relative to the archive root (the `./` prefix stripped)."""
        return [n[len(self.prefix):] for n in self._members if n.startswith(self.prefix)]

    def has(self, name: str) -> bool:
        return (self.prefix + name) in self._members

    def member(self, name: str) -> Member:
        try:
            return self._members[self.prefix + name]
        except KeyError:
            raise ArchiveError(f"{self.path} has no member {name!r}") from None

    def read_bytes(self, name: str) -> bytes:
        m = self.member(name)
        path, offset = self.locate(name)
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(m.size)
        if len(data) != m.size:
            raise ArchiveError(f"{self.path} is truncated in member {name!r}")
        return data

    def locate(self, name: str) -> Tuple[str, int]:
        """(file path, byte offset) where the member's bytes start (in the inflated copy for gzip archives)."""
        m = self.member(name)
        if self.is_dir:
            return os.path.join(self.path, m.name), 0
        return self._tar_path, m.offset

    def open_member(self, name: str) -> io.BufferedIOBase:
        """A seekable read-only stream over one member, without copying it."""
        m = self.member(name)
        path, offset = self.locate(name)
        return _Window(path, offset, m.size)

    def extract(self, name: str, dest_dir: str) -> str:
        """Copy one member to `dest_dir/<name>` (once) and return that path."""
        m = self.member(name)
        dest = os.path.join(dest_dir, *name.split("/"))
        if os.path.exists(dest):
            return dest
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + ".part"
        with self.open_member(name) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        if os.path.getsize(tmp) != m.size:
            os.remove(tmp)
            raise ArchiveError(f"{self.path} is truncated in member {name!r}")
        os.replace(tmp, dest)
        return dest


class _Window(io.RawIOBase):
    """A read-only file object over bytes [offset, offset+size) of a file."""

    def __init__(self, path: str, offset: int, size: int):
        self._f = open(path, "rb")
        self._start, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, b) -> int:
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(b)[:n])
        self._pos += got or 0
        return got or 0

    def close(self) -> None:
        self._f.close()
        super().close()


# -------------------------------------------------------------------- writing
def _header(name: str, size: int, is_dir: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if is_dir else size
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o700 if is_dir else 0o644
    info.mtime = _FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    fmt = tarfile.PAX_FORMAT if size < 8**11 else tarfile.GNU_FORMAT
    return info.tobuf(fmt, "utf-8", "surrogateescape")


def _pad(f, written: int) -> None:
    rem = written % _BLOCK
    if rem:
        f.write(b"\0" * (_BLOCK - rem))


def write_archive(
    save_path: str,
    files: Dict[str, bytes],
    artifacts: Dict[str, str],
    write_weights: Callable[[io.BufferedIOBase], None],
) -> None:
    """Write a `.nemo` atomically: `./`, then every member sorted by name, weights streamed last.

    `files` maps member name to bytes, `artifacts` member name to a source path, and
    `write_weights(f)` writes `model_weights.ckpt` straight into the open archive.
    """
    from nemo.utils.atomic_file import atomic_write

    entries = sorted([*files, *artifacts, WEIGHTS_NAME])
    if entries[-1] != WEIGHTS_NAME:
        raise ValueError(f"member names must sort before {WEIGHTS_NAME}: {entries[-1]}")
    with atomic_write(save_path) as f:
        f.write(_header("./", 0, is_dir=True))
        for name in entries[:-1]:
            if name in files:
                data = files[name]
                f.write(_header("./" + name, len(data)))
                f.write(data)
                _pad(f, len(data))
            else:
                size = os.path.getsize(artifacts[name])
                f.write(_header("./" + name, size))
                with open(artifacts[name], "rb") as src:
                    shutil.copyfileobj(src, f, 1 << 20)
                _pad(f, size)
        header_pos = f.tell()
        f.write(b"\0" * _BLOCK)
        write_weights(f)
        f.flush()
        end = f.tell()
        size = end - header_pos - _BLOCK
        header = _header("./" + WEIGHTS_NAME, size)
        if len(header) != _BLOCK:
            raise ArchiveError(f"cannot write a single-block tar header for {size} bytes")
        _pad(f, size)
        f.write(b"\0" * (2 * _BLOCK))
        total = f.tell()
        if total % _RECORD:
            f.write(b"\0" * (_RECORD - total % _RECORD))
        f.seek(header_pos)
        f.write(header)


def write_folder(
    folder: str,
    files: Dict[str, bytes],
    artifacts: Dict[str, str],
    write_weights: Callable[[io.BufferedIOBase], None],
) -> None:
    """Write the same members as `write_archive` into a plain folder (an "extracted .nemo")."""
    os.makedirs(folder, exist_ok=True)

    from nemo.utils.atomic_file import atomic_write

    def atomic(name: str, writer: Callable[[io.BufferedIOBase], None]) -> None:
        with atomic_write(os.path.join(folder, name)) as f:
            writer(f)

    for name, data in files.items():
        atomic(name, lambda f, d=data: f.write(d))
    for name, src in artifacts.items():
        atomic(name, lambda f, s=src: _copy_file(s, f))
    atomic(WEIGHTS_NAME, write_weights)


def _copy_file(src: str, out: io.BufferedIOBase) -> None:
    with open(src, "rb") as f:
        shutil.copyfileobj(f, out, 1 << 20)
