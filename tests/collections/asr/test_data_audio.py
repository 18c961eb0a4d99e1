"""AudioSegment: reading with soundfile, resampling and trimming on load, channel selection, gain/pad/cut."""

import numpy as np
import pytest
import soundfile as sf

from nemo.collections.asr.parts.preprocessing.segment import AudioSegment, select_channels, trim_silence


def _tone(freq, sr, seconds, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


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


def test_segment_trim_uses_the_shared_trimmer():
    sr = 16000
    x = np.concatenate([np.zeros(sr), _tone(440, sr, 0.5), np.zeros(sr)]).astype(np.float32)
    assert AudioSegment(x, sr, trim=True).num_samples == len(trim_silence(x, top_db=60))


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
