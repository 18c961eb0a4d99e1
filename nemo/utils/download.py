"""Downloading pretrained `.nemo` files into the cache: resumable, verified, atomic.

Only the standard library is used here (urllib), and the progress bar (tqdm) is imported when a
download actually starts, so importing this module costs nothing.

Cache layout: `<cache root>/<model name>/<md5 of the URL>/<file name>`, where the root is
`$NEMO_CACHE_DIR` or `<$XDG_CACHE_HOME or ~/.cache>/nemo/models` (shared by every version of this
package). A download goes to `<file>.part` beside the target, resumes from it with an HTTP Range
request, is checked against the catalogue's size and sha256 when known, and is renamed into place.
Every download is bounded: it stops past the expected size (or a cap), refuses a resumed answer whose
`Content-Range` does not fit, and has an overall deadline besides the per-read timeout.
"""

import hashlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from typing import Optional

from nemo.utils.exceptions import NeMoBaseException

_CHUNK = 1 << 20
BACKOFF_SECONDS = 1.0  # first pause between attempts; doubled each time
_STAMP_SUFFIX = ".verified.json"


class PretrainedModelError(NeMoBaseException):
    """A pretrained model cannot be found, downloaded or verified; the message says what to do."""


class UnknownModelError(PretrainedModelError, FileNotFoundError):
    """The name is not in the catalogue (or the Hub repo does not exist)."""


class OfflineCacheMissError(PretrainedModelError, FileNotFoundError):
    """Offline, and the model is not in the cache."""


class DownloadError(PretrainedModelError, OSError):
    """The network or the server failed."""


class ChecksumError(DownloadError, ValueError):
    """A downloaded file's size or sha256 does not match the catalogue."""


class HubAuthError(PretrainedModelError, PermissionError):
    """The hub refused the token (401/403)."""


def cache_root() -> str:
    """`$NEMO_CACHE_DIR`, else `<$XDG_CACHE_HOME or ~/.cache>/nemo/models` (absolute)."""
    env = os.environ.get("NEMO_CACHE_DIR", "").strip()
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "nemo", "models"))


def is_offline() -> bool:
    """True when `HF_HUB_OFFLINE` or `NEMO_OFFLINE` is set to a true value (read on every call)."""
    for key in ("HF_HUB_OFFLINE", "NEMO_OFFLINE"):
        if os.environ.get(key, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def progress_disabled() -> bool:
    for key in ("NEMO_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS"):
        if os.environ.get(key, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def ngc_cache_path(name: str, location: str, root: Optional[str] = None) -> str:
    """Where the file for catalogue entry (`name`, `location`) lives in the cache."""
    filename = location.rstrip("/").rsplit("/", 1)[-1] or f"{name}.nemo"
    digest = hashlib.md5(location.encode("utf-8"), usedforsecurity=False).hexdigest()
    return os.path.join(root or cache_root(), _safe_dir(name), digest, filename)


def _safe_dir(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return cleaned or "model"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------- verification
def _stamp_path(path: str) -> str:
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + _STAMP_SUFFIX)


def _file_key(path: str) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def verify_file(
    path: str, sha256: Optional[str] = None, size: Optional[int] = None, stamp: Optional[str] = None
) -> Optional[str]:
    """None when `path` is a complete, readable `.nemo` matching `size`/`sha256`; else the reason.

    The sha256 is computed once and remembered in a stamp file beside it (keyed by size and
    mtime; `stamp` overrides where), so loading a cached multi-GB model does not re-hash it
    every time.
    """
    from nemo.utils.tar_index import tar_problem

    try:
        key = _file_key(path)
    except OSError as e:
        return f"cannot read it: {e}"
    if size is not None and key["size"] != int(size):
        return f"it has {key['size']} bytes, the catalogue says {size}"
    if sha256:
        seen = _read_stamp(path, stamp)
        if seen is None or seen.get("key") != key or seen.get("sha256") != sha256.lower():
            actual = sha256_of(path)
            if actual != sha256.lower():
                return f"its sha256 is {actual}, expected {sha256.lower()}"
            _write_stamp(path, {"key": key, "sha256": actual}, stamp)
    return tar_problem(path)


def _read_stamp(path: str, stamp: Optional[str] = None) -> Optional[dict]:
    try:
        with open(stamp or _stamp_path(path), "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_stamp(path: str, data: dict, stamp: Optional[str] = None) -> None:
    target = stamp or _stamp_path(path)
    tmp = target + f".{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, target)
    except OSError:  # a read-only cache still works, it just re-hashes next time
        try:
            os.remove(tmp)
        except OSError:
            pass


def remove_cached(path: str) -> None:
    for p in (path, _stamp_path(path)):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


# -------------------------------------------------------------------------------------- download
DEFAULT_MAX_BYTES = 64 << 30  # cap when the catalogue gives no size; NEMO_DOWNLOAD_MAX_BYTES overrides
DEFAULT_DEADLINE_SECONDS = 6 * 3600.0  # whole download, retries included; NEMO_DOWNLOAD_DEADLINE overrides


class DownloadLimitError(DownloadError):
    """The server sent (or announced) more bytes than the catalogue's size or the configured cap."""


class DownloadDeadlineError(DownloadError, TimeoutError):
    """The download did not finish within its overall deadline."""


class ContentRangeError(DownloadError):
    """A resumed download's `Content-Range` does not match the bytes asked for or the expected size."""


def _env_number(key: str, default: float) -> float:
    raw = os.environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"${key}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"${key}={raw!r} must be positive")
    return value


def download_limits(size: Optional[int] = None, max_bytes: Optional[int] = None, deadline: Optional[float] = None):
    """(byte limit, what it is, deadline seconds) for one download, from the arguments or the environment."""
    if size is not None:
        limit, what = int(size), "the catalogue's size_bytes"
    elif max_bytes is not None:
        limit, what = int(max_bytes), "max_bytes"
    else:
        limit = int(_env_number("NEMO_DOWNLOAD_MAX_BYTES", DEFAULT_MAX_BYTES))
        what = "NEMO_DOWNLOAD_MAX_BYTES" if os.environ.get("NEMO_DOWNLOAD_MAX_BYTES", "").strip() else "the default cap"
    seconds = float(deadline) if deadline is not None else _env_number("NEMO_DOWNLOAD_DEADLINE", DEFAULT_DEADLINE_SECONDS)
    return limit, what, seconds


def download(
    url: str,
    dest: str,
    *,
    sha256: Optional[str] = None,
    size: Optional[int] = None,
    retries: int = 4,
    timeout: float = 30.0,
    backoff: Optional[float] = None,
    progress: Optional[bool] = None,
    headers: Optional[dict] = None,
    max_bytes: Optional[int] = None,
    deadline: Optional[float] = None,
) -> str:
    """Download `url` to `dest` atomically and return `dest`.

    Bytes go to `dest + ".part"`; an existing part file is resumed with `Range` (the answer's
    `Content-Range` must start where the part ends and agree with the size), also across retries
    after a dropped connection (back-off 1, 2, 4... s). The download stops with `DownloadLimitError`
    past `size` (else `max_bytes`, `$NEMO_DOWNLOAD_MAX_BYTES`, 64 GiB) and with
    `DownloadDeadlineError` after `deadline` seconds in all (else `$NEMO_DOWNLOAD_DEADLINE`, 6 h);
    `timeout` bounds each connect and read. Only a complete file matching `size`/`sha256` is
    renamed to `dest`; a rejected one is deleted.
    """
    limit, limit_what, seconds = download_limits(size, max_bytes, deadline)
    give_up = time.monotonic() + seconds
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    part = dest + ".part"
    with _lock(dest + ".lock"):
        if os.path.exists(dest):  # another process finished it while we waited for the lock
            return dest
        if os.path.exists(part) and os.path.getsize(part) > limit:
            os.remove(part)
        job = _Job(url, part, limit, limit_what, seconds, give_up, timeout, size)
        last_error: Optional[BaseException] = None
        for attempt in range(max(1, retries)):
            try:
                job.fetch(progress, headers or {})
                break
            except urllib.error.HTTPError as e:
                if e.code == 416 and os.path.exists(part):  # part file already complete (or bogus)
                    if size is not None and os.path.getsize(part) == int(size):
                        break
                    os.remove(part)
                    last_error = e
                    continue
                if e.code in (401, 403, 404, 410):
                    raise DownloadError(
                        f"{url} answered HTTP {e.code} ({e.reason}). The catalogue entry may be outdated: "
                        "check the URL, or download the .nemo yourself and use restore_from(path)."
                    ) from e
                last_error = e
            except (DownloadLimitError, ContentRangeError):
                _remove(part)
                raise
            except (urllib.error.URLError, OSError, http.client.HTTPException, _IncompleteRead) as e:
                if isinstance(e, DownloadDeadlineError):
                    raise
                if time.monotonic() >= give_up:
                    raise job.deadline_error() from e
                last_error = e
            if attempt + 1 < retries:
                pause = (BACKOFF_SECONDS if backoff is None else backoff) * (2**attempt)
                if time.monotonic() + pause >= give_up:
                    raise job.deadline_error() from last_error
                time.sleep(pause)
        else:
            reason = getattr(last_error, "reason", None) or last_error
            raise DownloadError(
                f"could not download {url} after {retries} attempts: {reason}. Check your network or proxy "
                f"and try again (the partial file {part} is kept and will be resumed), or set "
                "HF_HUB_OFFLINE=1 to use only cached models."
            ) from last_error
        actual_size = os.path.getsize(part)
        if size is not None and actual_size != int(size):
            os.remove(part)
            raise ChecksumError(
                f"downloaded {url} has {actual_size} bytes but the catalogue says {size}; the file was "
                "discarded. Try again; if it persists the catalogue entry or the server is wrong."
            )
        if sha256:
            actual = sha256_of(part)
            if actual != sha256.lower():
                os.remove(part)
                raise ChecksumError(
                    f"downloaded {url} has sha256 {actual} but the catalogue says {sha256.lower()}; the file "
                    "was discarded. Try again; if it persists the catalogue entry or the server is wrong."
                )
        os.replace(part, dest)
        if sha256:
            _write_stamp(dest, {"key": _file_key(dest), "sha256": sha256.lower()})
    return dest


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class _IncompleteRead(Exception):
    pass


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class _Job:
    """One download's limits, shared by its attempts: byte limit, overall deadline, per-read timeout."""

    def __init__(self, url, part, limit, limit_what, seconds, give_up, timeout, size):
        self.url, self.part, self.limit, self.limit_what = url, part, limit, limit_what
        self.seconds, self.give_up, self.timeout, self.size = seconds, give_up, timeout, size

    def remaining(self) -> float:
        left = self.give_up - time.monotonic()
        if left <= 0:
            raise self.deadline_error()
        return left

    def deadline_error(self) -> "DownloadDeadlineError":
        have = os.path.getsize(self.part) if os.path.exists(self.part) else 0
        return DownloadDeadlineError(
            f"download of {self.url} did not finish within its {self.seconds:g} s deadline ({have} bytes so far); "
            f"the partial file {self.part} is kept and resumed next time. Allow longer with "
            "download(deadline=...) or NEMO_DOWNLOAD_DEADLINE=<seconds>."
        )

    def limit_error(self, detail: str) -> "DownloadLimitError":
        return DownloadLimitError(
            f"download of {self.url} stopped: {detail}, more than the {self.limit} bytes allowed by {self.limit_what}; "
            "the partial file was discarded and nothing was cached. If the model really is larger, fix the "
            "catalogue's size_bytes or raise NEMO_DOWNLOAD_MAX_BYTES / max_bytes."
        )

    def _check_range(self, resp, have: int) -> None:
        raw = resp.headers.get("Content-Range")
        m = _CONTENT_RANGE.match(raw or "")
        problem = None
        if m is None:
            problem = f"its Content-Range {raw!r} is missing or malformed"
        else:
            start, end, total = int(m.group(1)), int(m.group(2)), m.group(3)
            length = resp.headers.get("Content-Length")
            if start != have:
                problem = f"it answered Content-Range {raw!r} to a request for bytes {have}-"
            elif end < start:
                problem = f"its Content-Range {raw!r} ends before it starts"
            elif total != "*" and self.size is not None and int(total) != int(self.size):
                problem = f"its Content-Range {raw!r} gives a total of {total} bytes, the catalogue says {self.size}"
            elif total != "*" and end >= int(total):
                problem = f"its Content-Range {raw!r} ends past its own total"
            elif length is not None and length.isdigit() and int(length) != end - start + 1:
                problem = f"its Content-Range {raw!r} disagrees with Content-Length {length}"
        if problem is not None:
            raise ContentRangeError(
                f"resuming the download of {self.url} failed: {problem}; the partial file was discarded and "
                "nothing was cached. Try again (it starts from zero); if it persists the server is broken."
            )

    def fetch(self, progress: Optional[bool], headers: dict) -> None:
        have = os.path.getsize(self.part) if os.path.exists(self.part) else 0
        req = urllib.request.Request(self.url, headers={"User-Agent": "nemo-clean-room", **headers})
        if have:
            req.add_header("Range", f"bytes={have}-")
        with urllib.request.urlopen(req, timeout=min(self.timeout, self.remaining())) as resp:
            status = getattr(resp, "status", 200)
            if status == 206:
                self._check_range(resp, have)
            elif have:  # server ignored Range: start over
                have = 0
            length = resp.headers.get("Content-Length")
            length = int(length) if length is not None and length.strip().isdigit() else None
            if length is not None and have + length > self.limit:
                raise self.limit_error(f"the server announced {have + length} bytes")
            total = have + length if length is not None else None
            bar = _progress_bar(total, have, os.path.basename(self.part[: -len(".part")]), progress)
            received = 0
            try:
                with open(self.part, "ab" if have else "wb") as f:
                    while True:
                        _set_read_timeout(resp, min(self.timeout, self.remaining()))
                        try:
                            chunk = resp.read1(_CHUNK)
                        except TimeoutError:
                            if time.monotonic() >= self.give_up:
                                raise self.deadline_error() from None
                            raise
                        if not chunk:
                            break
                        if have + received + len(chunk) > self.limit:
                            raise self.limit_error(f"the server sent more than {self.limit} bytes")
                        f.write(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            if length is not None and received < length:
                raise _IncompleteRead(f"connection closed after {received} of {length} bytes")


def _set_read_timeout(resp, seconds: float) -> None:
    """Shorten the socket timeout of an open response so no read outlasts the overall deadline."""
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


def _progress_bar(total: Optional[int], initial: int, name: str, progress: Optional[bool]):
    if progress is False or (progress is None and progress_disabled()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Downloading {name}")


class _lock:
    """An exclusive lock file for one cache entry (filelock when installed, else none)."""

    def __init__(self, path: str):
        self.path = path
        self._lock = None

    def __enter__(self):
        try:
            from filelock import FileLock
        except ImportError:
            return self
        self._lock = FileLock(self.path)
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            self._lock.release()
        return False
