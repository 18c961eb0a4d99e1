"""Audio reading with soundfile, resampling, trimming and channel selection."""

import numpy as np
import pytest
import soundfile as sf

from nemo.collections.asr.parts.preprocessing.segment import AudioSegment, resample, select_channels, trim_silence


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


def test_from_file_resamples_and_reads_offset_duration(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(str(path), _tone(440, 8000, 1.0), 8000, subtype="PCM_16")
    seg = AudioSegment.from_file(str(path), target_sr=16000)
    assert seg.sample_rate == 16000 and seg.num_samples == 16000 and seg.orig_sr == 8000
    part = AudioSegment.from_file(str(path), offset=0.25, duration=0.5)
    assert part.num_samples == 4000 and part.sample_rate == 8000
    full = AudioSegment.from_file(str(path))
    assert np.allclose(part.samples, full.samples[2000:6000])
    as_int = AudioSegment.from_file(str(path), int_values=True)
    assert as_int.samples.dtype == np.float32 and np.allclose(as_int.samples, full.samples, atol=1e-6)


def test_duration_longer_than_file_reads_whole_file(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(str(path), _tone(440, 16000, 0.3), 16000)
    assert AudioSegment.from_file(str(path), duration=100000).num_samples == 4800


def test_trim_silence_cuts_quiet_edges():
    sr = 16000
    x = np.concatenate([np.zeros(sr), _tone(440, sr, 0.5), np.zeros(sr)]).astype(np.float32)
    y = trim_silence(x, top_db=60)
    assert 8000 <= len(y) < 8000 + 2 * 2048
    assert AudioSegment(x, sr, trim=True).num_samples == len(y)


def test_channel_selection():
    x = np.stack([np.ones(4), 3 * np.ones(4)], axis=1).astype(np.float32)
    assert np.allclose(select_channels(x, "average"), 2.0)
    assert np.allclose(select_channels(x, 1), 3.0)
    assert select_channels(x, None).shape == (4, 2)
    with pytest.raises(ValueError, match="channel_selector"):
        select_channels(x, "left")


def test_segment_gain_pad_subsegment():
    seg = AudioSegment(np.full(1600, 0.1, dtype=np.float32), 16000)
    seg.gain_db(20)
    assert np.allclose(seg.samples, 1.0) and seg.rms_db == pytest.approx(0.0, abs=1e-5)
    seg.pad(100, symmetric=True)
    assert seg.num_samples == 1800 and seg.samples[0] == 0
    seg.subsegment(0.0, 0.05)
    assert seg.num_samples == 800


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
