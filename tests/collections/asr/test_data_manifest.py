"""Manifest reading: paths, error messages with line numbers, duration filtering reports."""

import json
import logging as std_logging

import numpy as np
import pytest
import soundfile as sf

from nemo.collections.asr.parts.preprocessing.manifest import (
    ManifestError,
    filter_entries,
    read_manifest,
    split_manifest_paths,
)
from nemo.utils import logging as nemo_logger


def _wav(path, seconds=0.5, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(seconds * sr), dtype=np.float32), sr)
    return path


def _manifest(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return str(path)


@pytest.fixture
def nemo_warnings():
    records = []
    handler = std_logging.Handler(level=std_logging.WARNING)
    handler.emit = records.append
    nemo_logger.addHandler(handler)
    yield records
    nemo_logger.removeHandler(handler)


def test_relative_paths_resolve_against_manifest_folder(tmp_path, monkeypatch):
    _wav(tmp_path / "data" / "wavs" / "a.wav")
    absolute = _wav(tmp_path / "elsewhere" / "b.wav")
    m = _manifest(tmp_path / "data" / "m.json", [
        {"audio_filepath": "wavs/a.wav", "duration": 0.5, "text": "hello"},
        "",
        {"audio_filepath": str(absolute), "duration": 0.5, "text": "world", "offset": 0.1},
    ])
    monkeypatch.chdir(tmp_path)  # cwd differs from the manifest's folder
    entries = read_manifest(m)
    assert [e.audio_file for e in entries] == [str(tmp_path / "data" / "wavs" / "a.wav"), str(absolute)]
    assert [e.text for e in entries] == ["hello", "world"]
    assert entries[1].offset == pytest.approx(0.1)
    assert [e.line for e in entries] == [1, 3]  # blank line skipped but counted


def test_comma_separated_and_list_manifests(tmp_path):
    _wav(tmp_path / "a.wav")
    m1 = _manifest(tmp_path / "m1.json", [{"audio_filepath": "a.wav", "duration": 0.5, "text": "one"}])
    m2 = _manifest(tmp_path / "m2.json", [{"audio_filepath": "a.wav", "duration": 0.5, "text": "two"}])
    assert split_manifest_paths(f"{m1}, {m2}") == [m1, m2]
    assert [e.text for e in read_manifest(f"{m1},{m2}")] == ["one", "two"]
    entries = read_manifest([m1, m2])
    assert [e.id for e in entries] == [0, 1]


def test_text_from_text_filepath(tmp_path):
    _wav(tmp_path / "a.wav")
    (tmp_path / "a.txt").write_text("line one\n")
    m = _manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav", "duration": 0.5, "text_filepath": "a.txt"}])
    assert read_manifest(m)[0].text == "line one"


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"audio_filepath": "a.wav", "duration": 0.5', "invalid JSON"),
        ('["a.wav", 0.5]', "expected a JSON object"),
        ('{"duration": 0.5, "text": "x"}', "missing 'audio_filepath'"),
        ('{"audio_filepath": "a.wav", "text": "x"}', "'duration' must be"),
        ('{"audio_filepath": "a.wav", "duration": "long", "text": "x"}', "'duration' must be"),
        ('{"audio_filepath": "a.wav", "duration": 0.5, "offset": -1}', "'offset' must be"),
        ('{"audio_filepath": "a.wav", "duration": 0.5, "text": 5}', "'text' must be a string"),
        ('{"audio_filepath": "missing.wav", "duration": 0.5, "text": "x"}', "audio file not found"),
    ],
)
def test_bad_line_names_manifest_and_line_number(tmp_path, bad_line, message):
    _wav(tmp_path / "a.wav")
    good = json.dumps({"audio_filepath": "a.wav", "duration": 0.5, "text": "ok"})
    m = _manifest(tmp_path / "train.json", [good, "", bad_line, good])
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert f"{m}:3:" in str(err.value)
    assert message in str(err.value)


def test_all_bad_lines_are_reported_together(tmp_path):
    m = _manifest(tmp_path / "m.json", ["not json", '{"audio_filepath": "x.wav", "duration": 1}'])
    with pytest.raises(ManifestError) as err:
        read_manifest(m)
    assert "2 bad manifest line(s)" in str(err.value)
    assert f"{m}:1:" in str(err.value) and f"{m}:2:" in str(err.value)


def test_missing_manifest_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_manifest(str(tmp_path / "nope.json"))


def test_duration_filter_counts_and_warns(tmp_path, nemo_warnings):
    _wav(tmp_path / "a.wav")
    lines = [{"audio_filepath": "a.wav", "duration": d, "text": "x"} for d in (0.05, 0.5, 1.0, 20.0, 30.0)]
    entries = read_manifest(_manifest(tmp_path / "m.json", lines))
    kept, stats = filter_entries(entries, parse=lambda t: [1], min_duration=0.1, max_duration=16.7, name="m.json")
    assert [e.duration for e in kept] == [0.5, 1.0]
    assert (stats.total, stats.kept, stats.too_short, stats.too_long, stats.dropped) == (5, 2, 1, 2, 3)
    assert stats.dropped_hours == pytest.approx(50.05 / 3600)
    text = " ".join(r.getMessage() for r in nemo_warnings)
    assert "dropped 3 of 5" in text and "1 shorter than min_duration=0.1" in text and "2 longer than max_duration=16.7" in text


def test_unparseable_text_and_max_utts(tmp_path):
    _wav(tmp_path / "a.wav")
    lines = [{"audio_filepath": "a.wav", "duration": 0.5, "text": t} for t in ("a", "BAD", "b", "c")]
    entries = read_manifest(_manifest(tmp_path / "m.json", lines))
    kept, stats = filter_entries(entries, parse=lambda t: None if t == "BAD" else [ord(t)], max_utts=2)
    assert [e.tokens for e in kept] == [[97], [98]]
    assert stats.unparsed == 1
