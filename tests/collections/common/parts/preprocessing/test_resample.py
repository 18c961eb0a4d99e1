"""Band-limited resampling: tones kept, content above the new Nyquist removed, NeMo's output length."""

import numpy as np
import pytest

from nemo.collections.common.parts.preprocessing.resample import resample


def _tone(freq, sr, seconds, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("orig, target", [(22050, 16000), (8000, 16000), (16000, 16800), (16000, 17123)])
def test_resample_keeps_a_tone_and_gives_ceil_length(orig, target):
    x = _tone(1000, orig, 0.5)
    y = resample(x, orig, target)
    assert y.dtype == np.float32 and len(y) == int(np.ceil(len(x) * target / orig))
    ref = _tone(1000, target, len(y) / target)[: len(y)]
    edge = target // 50  # filter edges at the signal boundaries
    assert np.abs(y[edge:-edge] - ref[edge:-edge]).max() < 1e-3


def test_resample_removes_content_above_new_nyquist():
    y = resample(_tone(10000, 22050, 0.5), 22050, 16000)
    assert np.sqrt(np.mean(y[400:-400] ** 2)) < 1e-3


def test_resample_multichannel_and_identity():
    x = np.stack([_tone(500, 16000, 0.1), _tone(700, 16000, 0.1)], axis=1)
    assert resample(x, 16000, 8000).shape == (800, 2)
    assert np.array_equal(resample(x, 16000, 16000), x)
