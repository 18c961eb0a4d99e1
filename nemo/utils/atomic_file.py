"""Atomic file publication safe against concurrent writers of the same path.

Each writer streams into its own hidden temporary file beside the target,
`.<name>.<host>.<pid>.<random>.tmp`, created with `O_EXCL` so no two writers ever share one; it is
fsynced and then `os.replace`d onto the target, so readers see either the old file or one writer's
whole new file. Temporary files that dead writers on this host left behind are removed by the next
writer of the same target once untouched for `STALE_GRACE_SECONDS` (a pid namespace shared by the host
name is not proven); those of other hosts once older than `STALE_FOREIGN_SECONDS`.
"""

import errno
import os
import re
import secrets
import socket
import time
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["atomic_write", "temp_path_for", "remove_stale_temps", "STALE_GRACE_SECONDS", "STALE_FOREIGN_SECONDS"]

STALE_GRACE_SECONDS = 60.0
STALE_FOREIGN_SECONDS = 24 * 3600.0
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]{1,24})\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{8,32})\.tmp$")


def _host_tag() -> str:
    tag = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:24]
    return tag or "host"


def temp_path_for(path: str) -> str:
    """A fresh temporary name beside `path`, unique to this process and call."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.{_host_tag()}.{os.getpid()}.{secrets.token_hex(8)}.tmp")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError as e:
        return e.errno != errno.ESRCH
    return True


def remove_stale_temps(path: str) -> int:
    """Delete temporary files of `path` whose writers are gone; returns how many were removed."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        entries = os.listdir(directory)
    except OSError:
        return 0
    host, now, removed = _host_tag(), time.time(), 0
    for entry in entries:
        m = _TEMP.match(entry)
        if m is None or m.group("name") != name:
            continue
        full = os.path.join(directory, entry)
        try:
            age = now - os.stat(full).st_mtime
        except OSError:
            continue
        if m.group("host") == host:
            stale = age > STALE_GRACE_SECONDS and not _pid_alive(int(m.group("pid")))
        else:
            stale = age > STALE_FOREIGN_SECONDS
        if stale:
            try:
                os.remove(full)
                removed += 1
            except OSError:
                pass
    return removed


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: "os.PathLike | str", mode: str = "wb", encoding: str = None) -> Iterator[IO]:
    """Open a private temporary file for writing; on success fsync it and `os.replace` it onto `path`.

    On any exception the temporary file is removed and `path` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    remove_stale_temps(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(16):
        tmp = temp_path_for(path)
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"cannot create a unique temporary file beside {path}")
    f = os.fdopen(fd, mode, **({"encoding": encoding or "utf-8"} if mode == "w" else {}))
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    except BaseException:
        f.close()
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
