"""Silence trimming by frame energy, against the naive per-frame rule."""

import numpy as np
import pytest

from nemo.collections.common.parts.preprocessing.silence import trim_silence


def _tone(freq, sr, seconds, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_trim_silence_cuts_quiet_edges():
    sr = 16000
    x = np.concatenate([np.zeros(sr), _tone(440, sr, 0.5), np.zeros(sr)]).astype(np.float32)
    y = trim_silence(x, top_db=60)
    assert 8000 <= len(y) < 8000 + 2 * 2048


@pytest.mark.parametrize("frame, hop", [(2048, 512), (2000, 512)])
def test_trim_matches_naive_frame_energy(frame, hop):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(30000) * np.r_[np.full(7000, 1e-4), np.ones(16000), np.full(7000, 1e-4)]).astype(np.float32)
    padded = np.pad(x.astype(np.float64), (frame // 2, frame // 2))
    n = 1 + (padded.size - frame) // hop
    power = np.array([np.mean(padded[i * hop : i * hop + frame] ** 2) for i in range(n)])
    loud = np.flatnonzero(10 * np.log10(power / power.max()) > -60)
    expected = x[loud[0] * hop : min(x.size, (loud[-1] + 1) * hop)]
    assert np.array_equal(trim_silence(x, 60, frame, hop), expected)
