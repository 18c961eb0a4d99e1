"""Run Debian's `espeak-ng` and return its waveform as numpy samples."""

from __future__ import annotations

import shutil
import struct
import subprocess
from typing import Tuple

import numpy as np

INSTALL_HINT = "espeak-ng is not installed; install it with `apt-get install -y espeak-ng` (Debian/Ubuntu)"


class EspeakNotFoundError(RuntimeError):
    """`espeak-ng` is missing from PATH."""


def espeak_path() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakNotFoundError(INSTALL_HINT)
    return path


def parse_wav_bytes(data: bytes) -> Tuple[np.ndarray, int]:
    """PCM16 mono/multi WAV bytes (sizes may be placeholders, as espeak-ng --stdout writes) -> (int16 samples, rate)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("espeak-ng did not produce WAV data")
    pos, rate, channels, bits = 12, None, 1, 16
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8 : pos + 24])
        elif chunk == b"data":
            if rate is None or bits != 16:
                raise ValueError("unsupported WAV format from espeak-ng")
            payload = data[pos + 8 :]
            payload = payload[: len(payload) - len(payload) % (2 * channels)]
            samples = np.frombuffer(payload, dtype="<i2")
            return samples.reshape(-1, channels)[:, 0].copy(), rate
        pos += 8 + size + (size & 1)
    raise ValueError("WAV data chunk missing in espeak-ng output")


def synthesize(text: str, voice: str = "en-us", rate: int = 160, pitch: int = 50, amplitude: int = 100) -> Tuple[np.ndarray, int]:
    """Speak `text` with espeak-ng; returns (int16 samples, sample_rate)."""
    cmd = [espeak_path(), "-v", voice, "-s", str(rate), "-p", str(pitch), "-a", str(amplitude), "--stdout", text]
    result = subprocess.run(cmd, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {result.stderr.decode(errors='replace').strip()}")
    return parse_wav_bytes(result.stdout)
