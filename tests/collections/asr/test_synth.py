"""espeak-ng corpus synthesis: deterministic plans and audio bytes, manifests, label set, missing-binary message."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import soundfile as sf

from nemo.collections.asr.data import synth
from nemo.collections.asr.data.synth import espeak, text
from nemo.collections.asr.parts.preprocessing.manifest import read_manifest

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
ALLOWED = set("abcdefghijklmnopqrstuvwxyz' ")


def _digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_plan_is_seeded_and_uses_quartznet_labels():
    counts = {"train": 30, "dev": 5, "test": 5}
    a, b = synth.plan_corpus(counts, seed=4), synth.plan_corpus(counts, seed=4)
    assert a == b and a != synth.plan_corpus(counts, seed=5)
    assert len({u.voice for u in a}) > 5 and len({u.rate for u in a}) > 5 and len({u.pitch for u in a}) > 5
    assert any(set(u.text.split()) <= set(text.DIGITS) for u in a) and any("the" in u.text.split() for u in a)
    for u in a:
        assert set(u.text) <= ALLOWED and u.text == u.text.strip() and "  " not in u.text
        assert set(u.text.split()) <= text.vocabulary()
    single = synth.plan_corpus(counts, seed=4, single_speaker=True)
    assert len({(u.voice, u.rate, u.pitch) for u in single}) == 1


@needs_espeak
def test_tiny_corpus_is_byte_identical_across_runs(tmp_path):
    first = synth.synthesize_corpus(str(tmp_path / "a"), num_train=3, num_dev=1, num_test=1, seed=7, jobs=2)
    synth.synthesize_corpus(str(tmp_path / "b"), num_train=3, num_dev=1, num_test=1, seed=7, jobs=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert set(first) == {"train", "dev", "test"}
    entries = read_manifest(first["train"])
    assert len(entries) == 3
    for e in entries:
        info = sf.info(e.audio_file)
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert info.frames <= e.duration * 16000 < info.frames + 2 and 0.3 < e.duration < 8
    lines = [json.loads(x) for x in open(first["dev"])]
    assert not os.path.isabs(lines[0]["audio_filepath"]) and "speaker" in lines[0]
    # same arguments: reused without touching the files; other arguments: regenerated
    before = os.path.getmtime(first["train"])
    assert synth.synthesize_corpus(str(tmp_path / "a"), num_train=3, num_dev=1, num_test=1, seed=7) == first
    assert os.path.getmtime(first["train"]) == before
    synth.synthesize_corpus(str(tmp_path / "a"), num_train=2, num_dev=1, num_test=1, seed=7)
    assert len(read_manifest(first["train"])) == 2


@needs_espeak
def test_cli_single_speaker(tmp_path):
    out = tmp_path / "tts"
    result = subprocess.run(
        [sys.executable, "-m", "nemo.collections.asr.data.synth", "--out", str(out), "--num-train", "2",
         "--num-dev", "0", "--num-test", "0", "--single-speaker", "--sample-rate", "22050", "--digit-fraction", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Corpus of 2 utterances ready" in result.stdout
    lines = [json.loads(x) for x in open(out / "train_manifest.json")]
    assert {x["speaker"] for x in lines} == {"en-us"}
    assert all(not set(x["text"].split()) <= set(text.DIGITS) for x in lines)  # sentences only
    assert sf.info(str(out / lines[0]["audio_filepath"])).samplerate == 22050
    assert (out / "dev_manifest.json").read_text() == ""


def test_missing_espeak_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    with pytest.raises(synth.EspeakNotFoundError, match="apt-get install -y espeak-ng"):
        synth.synthesize_corpus(str(tmp_path), 1, 0, 0)
    from nemo.collections.asr.data.synth.__main__ import main

    assert main(["--out", str(tmp_path), "--num-train", "1"]) == 2


def test_parse_wav_bytes_with_streaming_sizes():
    import struct

    import numpy as np

    pcm = np.array([0, 1000, -1000, 32767], dtype="<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    samples, rate = espeak.parse_wav_bytes(header + b"data" + struct.pack("<I", 0xFFFFFFFF) + pcm + b"\x01")
    assert rate == 22050 and samples.tolist() == [0, 1000, -1000, 32767]
    with pytest.raises(ValueError):
        espeak.parse_wav_bytes(b"garbage")
