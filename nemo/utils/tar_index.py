"""A tar file's member index, read without its data, and the check that the file is complete.

The ground floor of `.nemo` reading: the archive reader (`nemo.core.connectors.archive`) builds on it, and the
download cache uses it to tell a complete file from a truncated one.
"""

import tarfile
from typing import List, Optional

from nemo.utils.exceptions import ArchiveError

_BLOCK = tarfile.BLOCKSIZE


def tar_members(path: str, label: Optional[str] = None) -> List[tarfile.TarInfo]:
    """The headers of the uncompressed tar at `path`; `ArchiveError` (naming `label`) if unreadable, empty or cut short."""
    label = label or path
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
        with tarfile.open(path, "r:") as tar:
            infos = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError, UnicodeError, ValueError) as e:
        raise ArchiveError(f"{label} is not a readable .nemo archive (tar): {e}") from e
    if not infos:
        raise ArchiveError(f"{label} is not a .nemo archive: it holds no tar members")
    for info in infos:
        if info.offset_data + info.size > size:
            raise ArchiveError(
                f"{label} is truncated: member {info.name!r} needs {info.size} bytes at offset "
                f"{info.offset_data}, but the file has {size} bytes"
            )
    last_end = max(info.offset_data + -(-info.size // _BLOCK) * _BLOCK for info in infos)
    if size < last_end + 2 * _BLOCK:
        raise ArchiveError(f"{label} is truncated: the tar end-of-archive blocks are missing")
    return infos


def tar_problem(path: str) -> Optional[str]:
    """None when `path` is a complete tar (gzip-compressed ones are read through); else the reason."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        if not gzipped:
            tar_members(path)
            return None
        with tarfile.open(path, "r:gz") as tar:
            if not tar.getmembers():
                return f"{path} is not a .nemo archive: it holds no tar members"
    except ArchiveError as e:
        return str(e)
    except (tarfile.TarError, EOFError, OSError, UnicodeError, ValueError) as e:
        return f"{path} is not a readable .nemo archive (gzip tar): {e}"
    return None
