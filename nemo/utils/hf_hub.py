"""Resolving Hugging Face Hub repos to local `.nemo` files or extracted folders.

`huggingface_hub` is imported inside the functions that use it. Environment variables
(`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, `HF_HOME`, `HF_HUB_CACHE`) are read on every call,
so they work even when set after `huggingface_hub` was first imported.

Two repo layouts are understood:

* packed: `<repo name>.nemo` at the root -> downloaded through the standard HF cache;
* unpacked: `model_config.yaml`, `model_weights.ckpt` and artifacts at the root -> downloaded once
  per commit into `<nemo cache>/hf/<org>/<name>/<commit>/` as plain files (an extracted `.nemo`),
  with a size manifest to detect damage and `refs/<revision>` so a cached copy loads offline.
"""

import json
import os
import re
import shutil
from typing import Optional

from nemo.utils.download import (
    DownloadError,
    HubAuthError,
    OfflineCacheMissError,
    PretrainedModelError,
    UnknownModelError,
    cache_root,
    download_limits,
    is_offline,
    verify_file,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def validate_repo_id(repo_id: str) -> str:
    """Return `repo_id` if it has the form `owner/name`, else raise a ValueError saying so."""
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id or len(repo_id) > 96 * 2:
        raise ValueError(
            f"Invalid repo_id {repo_id!r}. Please provide a repo_id of the form `username/repo-name` "
            "(letters, digits, '-', '_' and '.', exactly one '/')."
        )
    return repo_id


def endpoint(api_endpoint: Optional[str] = None) -> str:
    return (api_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_cache_dir() -> str:
    """`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return os.path.join(os.path.expanduser(home), "hub")


def token(explicit: Optional[str] = None) -> Optional[str]:
    if explicit:
        return explicit
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    return get_token()


def _library_version() -> str:
    from nemo.package_info import __version__

    return __version__


def unpacked_root(repo_id: str) -> str:
    org, name = repo_id.split("/")
    return os.path.join(cache_root(), "hf", org, name)


# ------------------------------------------------------------------------------- cache lookups
def _cached_packed(repo_id: str, revision: Optional[str]) -> Optional[str]:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, f"{repo_id.split('/')[1]}.nemo", cache_dir=hf_cache_dir(), revision=revision)
    return found if isinstance(found, str) and os.path.isfile(found) else None


def _cached_unpacked(repo_id: str, revision: Optional[str]) -> Optional[str]:
    root = unpacked_root(repo_id)
    ref = revision or "main"
    commit = ref
    ref_file = os.path.join(root, "refs", ref)
    if os.path.isfile(ref_file):
        with open(ref_file, "r", encoding="utf-8") as f:
            commit = f.read().strip()
    folder = os.path.join(root, commit)
    return folder if os.path.isfile(folder + ".json") and os.path.isdir(folder) else None


def verify_packed(path: str) -> Optional[str]:
    """None when the cached `.nemo` is readable and, where its blob is named by a sha256 (the Hub's
    LFS etag), matches it; else the reason. The hash is remembered under the NeMo cache."""
    blob = os.path.basename(os.path.realpath(path))
    expected = blob if re.fullmatch(r"[0-9a-f]{64}", blob) else None
    return verify_file(path, sha256=expected, stamp=os.path.join(cache_root(), "hf-verified", blob + ".json"))


def verify_unpacked(folder: str) -> Optional[str]:
    """None when every file the manifest lists is there with its size; else the reason."""
    try:
        with open(folder + ".json", "r", encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return f"its manifest is unreadable: {e}"
    for rel, size in manifest.get("files", {}).items():
        path = os.path.join(folder, rel)
        if not os.path.isfile(path):
            return f"{rel} is missing"
        if size is not None and os.path.getsize(path) != size:
            return f"{rel} has {os.path.getsize(path)} bytes, expected {size}"
    return None


# ------------------------------------------------------------------------------------ resolve
def resolve(repo_id: str, refresh_cache: bool = False, revision: Optional[str] = None, token_: Optional[str] = None) -> str:
    """Local path (`.nemo` file or extracted folder) for Hub repo `repo_id`; downloads if needed.

    A cached copy is used without any network call. Offline with nothing cached raises
    `OfflineCacheMissError`; a damaged cached copy is reported and downloaded again.
    """
    from nemo.utils import logging

    validate_repo_id(repo_id)
    offline = is_offline()
    damaged = None
    if not refresh_cache or offline:
        for path, check in ((_cached_packed(repo_id, revision), verify_packed), (_cached_unpacked(repo_id, revision), verify_unpacked)):
            if path is None:
                continue
            damaged = check(path)
            if damaged is None:
                return path
            logging.warning(f"cached copy of {repo_id} at {path} is damaged ({damaged}); downloading it again")
            break
    if offline:
        what = "is damaged" if damaged else "is not in the cache"
        raise OfflineCacheMissError(
            f"Model {repo_id} {what} (HF cache {hf_cache_dir()}, NeMo cache {cache_root()}) and offline mode is on "
            f"(HF_HUB_OFFLINE). Pre-fetch it on a machine with network: `from_pretrained({repo_id!r})` with the "
            "same HF_HOME/NEMO_CACHE_DIR, or `hf download " + repo_id + "`; then copy the cache over."
        )
    return _download(repo_id, revision, token(token_), force=refresh_cache or damaged is not None)


def _download(repo_id: str, revision: Optional[str], tok: Optional[str], force: bool) -> str:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint(), token=tok, library_name="nemo", library_version=_library_version())
    with translate_hub_errors(repo_id):
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    files = {s.rfilename: s.size for s in (info.siblings or [])}
    packed = f"{repo_id.split('/')[1]}.nemo"
    if packed in files:
        _check_declared_size(repo_id, {packed: files[packed]})
        return _download_packed(repo_id, packed, info.sha, revision, tok, force)
    if "model_config.yaml" not in files:
        raise UnknownModelError(
            f"Hub repo {repo_id} holds neither {packed} nor model_config.yaml, so it is not a NeMo model "
            f"(files: {sorted(files)[:10]}). Check the repo id."
        )
    _check_declared_size(repo_id, files)
    return _download_unpacked(repo_id, info.sha, revision, tok, force, files)


def _check_declared_size(repo_id: str, files: dict) -> None:
    """Refuse, before any byte moves, a model whose files the Hub says are larger than NEMO_DOWNLOAD_MAX_BYTES
    (64 GiB by default) in all; huggingface_hub then checks each file against its declared size."""
    limit, what, _ = download_limits()
    total = sum(size for size in files.values() if size)
    if total > limit:
        biggest = max(files, key=lambda name: files[name] or 0)
        raise DownloadError(
            f"Hub repo {repo_id}: its model files are {total} bytes (largest {biggest}: {files[biggest]} bytes), "
            f"above {what} ({limit} bytes); set NEMO_DOWNLOAD_MAX_BYTES higher to download it"
        )


def _download_packed(repo_id: str, filename: str, commit: str, revision: Optional[str], tok, force: bool) -> str:
    from huggingface_hub import hf_hub_download

    from nemo.utils import logging

    kwargs = dict(
        revision=commit or revision, cache_dir=hf_cache_dir(), endpoint=endpoint(), token=tok,
        library_name="nemo", library_version=_library_version(),
    )
    with translate_hub_errors(repo_id):
        path = hf_hub_download(repo_id, filename, force_download=force, **kwargs)
    problem = verify_packed(path)
    if problem is not None:
        logging.warning(f"downloaded {filename} from {repo_id} is damaged ({problem}); downloading it once more")
        with translate_hub_errors(repo_id):
            path = hf_hub_download(repo_id, filename, force_download=True, **kwargs)
        problem = verify_packed(path)
        if problem is not None:
            raise DownloadError(f"{filename} from Hub repo {repo_id} is not a readable .nemo file: {problem}")
    _record_ref(repo_id, revision or "main", commit, packed=True)
    return path


def _record_ref(repo_id: str, ref: str, commit: Optional[str], packed: bool) -> None:
    """Make `try_to_load_from_cache(revision=ref)` find the commit we downloaded by its sha."""
    if not commit or not packed:
        return
    org, name = repo_id.split("/")
    refs = os.path.join(hf_cache_dir(), f"models--{org}--{name}", "refs")
    os.makedirs(refs, exist_ok=True)
    _atomic_text(os.path.join(refs, ref), commit)


def _download_unpacked(repo_id, commit, revision, tok, force, files) -> str:
    from huggingface_hub import snapshot_download

    root = unpacked_root(repo_id)
    final = os.path.join(root, commit)
    if not force and os.path.isdir(final) and verify_unpacked(final) is None:
        _atomic_text(os.path.join(root, "refs", revision or "main"), commit)
        return final
    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f".{commit}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with translate_hub_errors(repo_id):
            snapshot_download(
                repo_id, revision=commit, local_dir=tmp, cache_dir=hf_cache_dir(), endpoint=endpoint(), token=tok,
                library_name="nemo", library_version=_library_version(),
            )
        shutil.rmtree(os.path.join(tmp, ".cache"), ignore_errors=True)  # huggingface_hub's bookkeeping
        if os.path.exists(os.path.join(tmp, ".gitattributes")):
            os.remove(os.path.join(tmp, ".gitattributes"))
        manifest = {rel: size for rel, size in files.items() if rel != ".gitattributes"}
        for rel, size in manifest.items():
            got = os.path.join(tmp, rel)
            if not os.path.isfile(got) or (size is not None and os.path.getsize(got) != size):
                raise DownloadError(f"download of {repo_id} is incomplete ({rel}); try again")
        shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:  # another process put the same commit in place first
            if not os.path.isdir(final):
                raise
        _atomic_text(final + ".json", json.dumps({"repo_id": repo_id, "commit": commit, "files": manifest}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _atomic_text(os.path.join(root, "refs", revision or "main"), commit)
    return final


def _atomic_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------- errors
class translate_hub_errors:
    """Turn huggingface_hub / HTTP client errors into one-message errors that say what to do."""

    def __init__(self, repo_id: str, action: str = "download"):
        self.repo_id = repo_id
        self.action = action

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, PretrainedModelError):
            return False
        new = hub_error(exc, self.repo_id, self.action)
        if new is None:
            return False
        raise new from exc


def hub_error(exc: BaseException, repo_id: str, action: str = "download") -> Optional[Exception]:
    from huggingface_hub import errors as hf_errors

    where = endpoint()
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, hf_errors.GatedRepoError):
        return HubAuthError(
            f"Hub repo {repo_id} on {where} is gated: accept its terms on the website, then pass token= or set HF_TOKEN."
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return UnknownModelError(
            f"Hub repo {repo_id} was not found on {where} (HTTP {status}). Check the repo id; if it is private, "
            "pass token= or set HF_TOKEN (or run `hf auth login`) with a token that can read it."
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return UnknownModelError(f"Hub repo {repo_id} on {where} has no such revision/branch: check the revision name.")
    if isinstance(exc, hf_errors.HfHubHTTPError) and status in (401, 403):
        verb = "push to" if action == "push" else "read"
        return HubAuthError(
            f"{where} refused to let you {verb} {repo_id} (HTTP {status}). Pass token= or set HF_TOKEN (or run "
            f"`hf auth login`) with a token that has {'write' if action == 'push' else 'read'} access."
        )
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return UnknownModelError(f"a file of Hub repo {repo_id} was not found on {where} (HTTP 404): {exc}")
    if isinstance(exc, hf_errors.HfHubHTTPError):
        return DownloadError(f"{where} answered HTTP {status} for {repo_id} while trying to {action}: {exc}. Try again later.")
    if isinstance(exc, (hf_errors.OfflineModeIsEnabled, hf_errors.LocalEntryNotFoundError)) or _is_network_error(exc):
        return DownloadError(
            f"could not reach {where} to {action} {repo_id} ({type(exc).__name__}: {exc}). Check your network, proxy "
            "or HF_ENDPOINT; to use models already in the cache without network, set HF_HUB_OFFLINE=1."
        )
    return None


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    # httpx (huggingface_hub >= 1.0, "httpx2" in some builds), requests/urllib3 before that
    return type(exc).__module__.split(".")[0].startswith(("httpx", "httpcore", "requests", "urllib3"))
