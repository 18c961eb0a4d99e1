"""NeMo JSON-lines manifests: one `{"audio_filepath", "duration", "text", "offset"?}` object per line.

Errors name the manifest and the 1-based line number. Duration filtering is counted and reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from nemo.utils import logging

_MAX_REPORTED_ERRORS = 10


class ManifestError(RuntimeError):
    """A manifest line is malformed or points to a missing audio file."""


@dataclass
class ManifestEntry:
    """One utterance; `tokens` is filled by the dataset's parser/tokenizer."""

    audio_file: str
    duration: float
    text: str = ""
    offset: float = 0.0
    tokens: Optional[List[int]] = None
    speaker: Any = None
    orig_sr: Optional[int] = None
    lang: Optional[str] = None
    id: int = 0
    manifest: str = ""
    line: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass
class FilterStats:
    """What duration/parse filtering removed from a manifest set."""

    total: int = 0
    kept: int = 0
    too_short: int = 0
    too_long: int = 0
    unparsed: int = 0
    kept_hours: float = 0.0
    dropped_hours: float = 0.0

    @property
    def dropped(self) -> int:
        return self.too_short + self.too_long + self.unparsed


def split_manifest_paths(manifest_filepath: Union[str, Sequence[str]]) -> List[str]:
    """Accept one path, a comma-separated string of paths, or a list of paths."""
    if manifest_filepath is None:
        return []
    if isinstance(manifest_filepath, (str, os.PathLike)):
        items = [p.strip() for p in str(manifest_filepath).split(",")]
    else:
        items = []
        for item in manifest_filepath:
            items.extend(split_manifest_paths(item))
    return [p for p in items if p]


def resolve_audio_path(path: str, manifest_dir: str) -> Optional[str]:
    """An absolute path as is; a relative one under the manifest's folder first, then as given."""
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    candidate = os.path.join(manifest_dir, path)
    if os.path.exists(candidate):
        return os.path.abspath(candidate)
    return os.path.abspath(path) if os.path.exists(path) else None


def _where(manifest: str, line: int) -> str:
    return f"{manifest}:{line}"


def _read_text(item: dict, manifest_dir: str) -> str:
    if "text" in item:
        return item["text"]
    if "text_filepath" in item:
        path = item["text_filepath"]
        path = path if os.path.isabs(path) else os.path.join(manifest_dir, path)
        with open(path, encoding="utf-8") as f:
            return f.read().replace("\n", "")
    return item.get("normalized_text", "")


def parse_manifest_item(item: Any, manifest: str, line: int, check_audio: bool = True) -> ManifestEntry:
    """Validate one decoded manifest line and turn it into a `ManifestEntry`."""
    where = _where(manifest, line)
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(item).__name__}")
    audio = item.get("audio_filepath", item.get("audio_filename", item.get("context")))
    if not isinstance(audio, str) or not audio:
        raise ManifestError(f"{where}: missing 'audio_filepath'")
    duration = item.get("duration", item.get("context_duration"))
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
        raise ManifestError(f"{where}: 'duration' must be a non-negative number of seconds, got {duration!r}")
    offset = item.get("offset", 0.0) or 0.0
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or offset < 0:
        raise ManifestError(f"{where}: 'offset' must be a non-negative number of seconds, got {offset!r}")
    manifest_dir = os.path.dirname(os.path.abspath(manifest))
    try:
        text = _read_text(item, manifest_dir)
    except OSError as err:
        raise ManifestError(f"{where}: cannot read text_filepath: {err}") from err
    if not isinstance(text, str):
        raise ManifestError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    resolved = resolve_audio_path(audio, manifest_dir)
    if resolved is None:
        if check_audio:
            raise ManifestError(
                f"{where}: audio file not found: '{audio}' (looked in {manifest_dir} and the current directory)"
            )
        resolved = audio if os.path.isabs(audio) else os.path.join(manifest_dir, audio)
    known = {"audio_filepath", "audio_filename", "context", "duration", "context_duration", "offset", "text",
             "text_filepath", "normalized_text", "speaker", "orig_sample_rate", "lang"}
    return ManifestEntry(
        audio_file=resolved, duration=float(duration), text=text, offset=float(offset),
        speaker=item.get("speaker"), orig_sr=item.get("orig_sample_rate"), lang=item.get("lang"),
        manifest=manifest, line=line, extra={k: v for k, v in item.items() if k not in known},
    )


def iter_manifest_lines(manifest: str) -> Iterator[tuple]:
    """Yield `(line_number, decoded_json_or_exception)` for each non-blank line."""
    if not os.path.isfile(manifest):
        raise FileNotFoundError(f"Manifest file not found: {manifest}")
    with open(manifest, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except json.JSONDecodeError as err:
                yield number, ManifestError(f"{_where(manifest, number)}: invalid JSON ({err.msg} at column {err.colno})")


def read_manifest(manifest_filepath, check_audio: bool = True) -> List[ManifestEntry]:
    """Read every entry of one or more manifests; all bad lines are collected into one `ManifestError`."""
    entries: List[ManifestEntry] = []
    errors: List[str] = []
    for manifest in split_manifest_paths(manifest_filepath):
        for number, item in iter_manifest_lines(manifest):
            try:
                if isinstance(item, Exception):
                    raise item
                entry = parse_manifest_item(item, manifest, number, check_audio=check_audio)
            except ManifestError as err:
                errors.append(str(err))
                continue
            entry.id = len(entries)
            entries.append(entry)
    if errors:
        shown = "\n  ".join(errors[:_MAX_REPORTED_ERRORS])
        more = f"\n  ... and {len(errors) - _MAX_REPORTED_ERRORS} more" if len(errors) > _MAX_REPORTED_ERRORS else ""
        raise ManifestError(f"{len(errors)} bad manifest line(s):\n  {shown}{more}")
    return entries


def filter_entries(
    entries: List[ManifestEntry],
    parse: Optional[Callable[[str], Optional[List[int]]]] = None,
    min_duration: Optional[float] = None,
    max_duration: Optional[float] = None,
    max_utts: int = 0,
    name: str = "manifest",
) -> tuple:
    """Drop entries outside [min_duration, max_duration] or unparseable; log a warning with the counts.

    Returns `(kept_entries, FilterStats)`; `parse` fills each kept entry's `tokens`.
    """
    stats = FilterStats(total=len(entries))
    kept: List[ManifestEntry] = []
    for entry in entries:
        if min_duration is not None and entry.duration < min_duration:
            stats.too_short += 1
        elif max_duration is not None and entry.duration > max_duration:
            stats.too_long += 1
        else:
            tokens = parse(entry.text) if parse is not None else None
            if parse is not None and tokens is None:
                stats.unparsed += 1
            else:
                entry.tokens = tokens
                kept.append(entry)
                stats.kept_hours += entry.duration / 3600.0
                if max_utts > 0 and len(kept) >= max_utts:
                    break
                continue
        stats.dropped_hours += entry.duration / 3600.0
    stats.kept = len(kept)
    if stats.dropped:
        logging.warning(
            "%s: dropped %d of %d utterances (%d shorter than min_duration=%s s, %d longer than max_duration=%s s, "
            "%d with unparseable text), %.3f h removed; %d kept (%.3f h)",
            name, stats.dropped, stats.total, stats.too_short, min_duration, stats.too_long, max_duration,
            stats.unparsed, stats.dropped_hours, stats.kept, stats.kept_hours,
        )
    else:
        logging.info("%s: %d utterances (%.3f h)", name, stats.kept, stats.kept_hours)
    return kept, stats
