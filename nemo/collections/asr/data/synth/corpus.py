"""Synthesise a small English speech corpus (wav files + NeMo manifests) with espeak-ng, deterministically."""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from nemo.collections.asr.data.synth import espeak, text
from nemo.utils import logging

ACCENTS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-us-nyc"]
VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5"]
DEFAULT_VOICES = [a + v for a in ACCENTS for v in VARIANTS]
SPLITS = ("train", "dev", "test")


@dataclass
class UtteranceSpec:
    """Everything that determines one synthetic utterance."""

    split: str
    index: int
    text: str
    voice: str
    rate: int
    pitch: int

    @property
    def relpath(self) -> str:
        return os.path.join("wavs", self.split, f"{self.split}_{self.index:05d}.wav")


def plan_corpus(
    counts: Dict[str, int],
    seed: int = 0,
    voices: Optional[Sequence[str]] = None,
    rate_range=(130, 190),
    pitch_range=(30, 70),
    single_speaker: bool = False,
    digit_fraction: float = 0.4,
) -> List[UtteranceSpec]:
    """Seeded choice of text, voice, rate and pitch for every utterance (no audio made here)."""
    voices = list(voices or (["en-us"] if single_speaker else DEFAULT_VOICES))
    plan = []
    for split_index, split in enumerate(SPLITS):
        for i in range(counts.get(split, 0)):
            rng = np.random.default_rng([seed, split_index, i])
            utt_text = text.utterance_text(rng, digit_fraction)
            if single_speaker:
                voice, rate, pitch = voices[0], int(np.mean(rate_range)), int(np.mean(pitch_range))
            else:
                voice = voices[int(rng.integers(len(voices)))]
                rate = int(rng.integers(rate_range[0], rate_range[1] + 1))
                pitch = int(rng.integers(pitch_range[0], pitch_range[1] + 1))
            plan.append(UtteranceSpec(split, i, utt_text, voice, rate, pitch))
    return plan


def render(spec: UtteranceSpec, out_dir: str, sample_rate: int = 16000, margin_s: float = 0.1) -> dict:
    """Speak one utterance, trim silence to `margin_s`, resample, write PCM16 wav; returns its manifest line."""
    import soundfile as sf

    from nemo.collections.asr.parts.preprocessing.segment import resample, trim_silence

    samples, sr = espeak.synthesize(spec.text, voice=spec.voice, rate=spec.rate, pitch=spec.pitch)
    audio = samples.astype(np.float32) / 32768.0
    audio = trim_silence(audio, top_db=40, frame_length=512, hop_length=128)
    margin = np.zeros(int(margin_s * sr), dtype=np.float32)
    audio = np.concatenate([margin, audio, margin])
    if sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    path = os.path.join(out_dir, spec.relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, pcm, sample_rate, subtype="PCM_16")
    duration = math.ceil(len(pcm) / sample_rate * 1e4) / 1e4  # never shorter than the file
    return {"audio_filepath": spec.relpath, "duration": duration, "text": spec.text, "speaker": spec.voice}


def synthesize_corpus(
    out_dir: str,
    num_train: int = 1200,
    num_dev: int = 150,
    num_test: int = 150,
    seed: int = 0,
    sample_rate: int = 16000,
    single_speaker: bool = False,
    voices: Optional[Sequence[str]] = None,
    jobs: Optional[int] = None,
    force: bool = False,
    digit_fraction: float = 0.4,
) -> Dict[str, str]:
    """Make wavs under `out_dir/wavs/<split>/` and `<split>_manifest.json` files; returns {split: manifest path}.

    Identical arguments give identical text, voices and audio bytes. Paths in the manifests are relative.
    A corpus already made in `out_dir` with the same arguments is reused unless `force`.
    """
    espeak.espeak_path()  # fail early with the install hint
    counts = {"train": num_train, "dev": num_dev, "test": num_test}
    params = {"counts": counts, "seed": seed, "sample_rate": sample_rate, "single_speaker": single_speaker,
              "voices": list(voices) if voices else None, "digit_fraction": digit_fraction, "version": 1}
    stamp = os.path.join(out_dir, "corpus.json")
    existing = {split: os.path.join(out_dir, f"{split}_manifest.json") for split in SPLITS}
    if not force and os.path.exists(stamp) and all(os.path.exists(p) for p in existing.values()):
        with open(stamp, encoding="utf-8") as f:
            if json.load(f) == params:
                logging.info("Reusing the corpus in %s (same parameters)", out_dir)
                return existing
    plan = plan_corpus(counts, seed=seed, voices=voices, single_speaker=single_speaker, digit_fraction=digit_fraction)
    os.makedirs(out_dir, exist_ok=True)
    jobs = jobs or min(4, max(1, (os.cpu_count() or 1)))
    start = time.time()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        lines = list(pool.map(lambda s: render(s, out_dir, sample_rate), plan))
    manifests = {}
    for split in SPLITS:
        path = os.path.join(out_dir, f"{split}_manifest.json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for spec, line in zip(plan, lines):
                if spec.split == split:
                    f.write(json.dumps(line) + "\n")
        os.replace(tmp, path)
        manifests[split] = path
    with open(stamp, "w", encoding="utf-8") as f:
        json.dump(params, f, indent=1)
    hours = sum(line["duration"] for line in lines) / 3600.0
    logging.info("Synthesised %d utterances (%.2f h) in %.1f s into %s", len(lines), hours, time.time() - start, out_dir)
    return manifests
