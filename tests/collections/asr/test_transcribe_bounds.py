"""`transcribe` on hostile or huge audio: absurd header sample rates are refused, long inputs run in chunks
whose merged log-probs match a single pass, and an hour of audio stays within the documented memory."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModel
from nemo.collections.asr.parts.preprocessing.segment import AudioSampleRateError, AudioSegment

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tiny_cfg(normalize="per_feature"):
    """A small QuartzNet-like CTC model (receptive field well under the default 4 s chunk context)."""
    block = dict(filters=32, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    return OmegaConf.create({
        "sample_rate": 16000,
        "labels": LABELS,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": 32, "n_fft": 512, "dither": 0.0, "normalize": normalize},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 32, "activation": "relu",
                    "conv_mask": True,
                    "jasper": [dict(block, stride=[2], kernel=[11]), dict(block, repeat=2, residual=True),
                               dict(block, filters=64, kernel=[1], separable=False)]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None, "num_classes": -1,
                    "vocabulary": LABELS},
    })


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EncDecCTCModel(cfg=tiny_cfg(normalize=None))


def test_one_hertz_header_is_refused_before_any_resampling(model, tmp_path):
    path = str(tmp_path / "one_hz.wav")
    sf.write(path, np.zeros(16000, dtype=np.int16), 1, subtype="PCM_16")  # resampled: 256M samples
    start = time.monotonic()
    with pytest.raises(AudioSampleRateError) as e:
        model.transcribe([path], verbose=False)
    msg = str(e.value)
    assert path in msg and "1 Hz" in msg and "\n" not in msg
    assert time.monotonic() - start < 30  # refused from the header, not after a 1 GB resample
    with pytest.raises(AudioSampleRateError, match="one_hz.wav: sample rate 1 Hz"):
        AudioSegment.from_file(path, target_sr=16000)
    with pytest.raises(AudioSampleRateError, match="AudioSegment: sample rate 100 Hz is outside"):
        AudioSegment(np.zeros(100, dtype=np.float32), 100, target_sr=16000)
    assert isinstance(model.transcribe([np.zeros(8000, dtype=np.float32)], verbose=False)[0].text, str)


def test_chunked_log_probs_match_a_single_pass(model, tmp_path):
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000 * 25)).astype(np.float32)
    path = str(tmp_path / "long.wav")
    sf.write(path, audio, 16000, subtype="FLOAT")
    whole = model.transcribe([path], return_hypotheses=True, verbose=False, chunk_duration_s=None)[0]
    chunked = model.transcribe([path, audio], return_hypotheses=True, verbose=False,
                               chunk_duration_s=6.0, chunk_context_s=1.0, batch_size=2)
    for hyp in chunked:  # a file read window by window, and an array sliced
        assert hyp.y_sequence.shape == whole.y_sequence.shape
        torch.testing.assert_close(hyp.y_sequence, whole.y_sequence, atol=1e-4, rtol=1e-4)
        assert hyp.text == whole.text
    short = model.transcribe([audio[:16000 * 6]], verbose=False, return_hypotheses=True, chunk_duration_s=6.0)[0]
    one = model.transcribe([audio[:16000 * 6]], verbose=False, return_hypotheses=True, chunk_duration_s=None)[0]
    assert torch.equal(short.y_sequence, one.y_sequence)  # within chunk + context: one pass


def test_chunked_input_mixed_with_short_ones_keeps_input_order(model):
    rng = np.random.default_rng(1)
    inputs = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (8000, 16000 * 20, 4000)]
    expected = [model.transcribe([a], verbose=False, chunk_duration_s=None)[0].text for a in inputs]
    got = model.transcribe(inputs, verbose=False, chunk_duration_s=5.0, chunk_context_s=1.0)
    assert [h.text for h in got] == expected


def test_transducer_encodings_are_merged_the_same_way():
    from nemo.core import ModelPT

    tdt = ModelPT.restore_from(os.path.join(os.path.dirname(__file__), "data", "fastconformer", "fc_tdt_bpe.nemo"),
                               map_location="cpu")
    assert tdt._transcribe_frame_hop() == 160 * 8
    seen = []
    decode = tdt._transcribe_output_processing

    def record(outputs, config):
        seen.append((tuple(outputs["encoded"].shape), outputs["encoded_len"].tolist()))
        return decode(outputs, config)

    tdt._transcribe_output_processing = record
    audio = (0.1 * np.random.default_rng(0).standard_normal(16000 * 25)).astype(np.float32)
    whole = tdt.transcribe([audio], verbose=False, chunk_duration_s=None)[0]
    chunked = tdt.transcribe([audio], verbose=False, chunk_duration_s=6.0, chunk_context_s=2.0)[0]
    assert seen[0] == seen[1] == ((1, seen[0][0][1], 313), [313])  # (B, D, T): every frame once, in order
    # global self-attention sees only its chunk, so the texts may differ slightly; both are whole transcripts
    assert isinstance(chunked.text, str) and abs(len(chunked.text) - len(whole.text)) <= 0.1 * len(whole.text)


def test_merged_frames_buffer_grows_when_the_estimate_is_short():
    from nemo.collections.asr.parts.mixins.transcription import _put

    pieces = [torch.randn(3, n) for n in (4, 5, 6)]  # (D, T) like transducer encodings: time on axis 1
    buffer, at = None, 0
    for piece in pieces:
        buffer = _put(buffer, piece, 1, at, capacity=2)
        at += piece.shape[1]
    assert torch.equal(buffer[:, :at], torch.cat(pieces, dim=1))


def test_bad_chunk_settings_are_reported(model):
    with pytest.raises(ValueError, match="chunk_duration_s=-1"):
        model.transcribe([np.zeros(8000, dtype=np.float32)], verbose=False, chunk_duration_s=-1)


_HOUR_CHILD = r"""
import json, resource, sys, torch
sys.path.insert(0, {repo!r})
torch.set_num_threads(1)
from nemo.collections.asr.models import EncDecCTCModel
from tests.collections.asr.test_transcribe_bounds import tiny_cfg
import numpy as np
torch.manual_seed(0)
model = EncDecCTCModel(cfg=tiny_cfg())
rng = np.random.default_rng(1)
for _ in range(2):  # warm up on full chunk batches, twice: the allocator's high-water mark settles
    model.transcribe([(rng.standard_normal(16000 * 300) * 1e-3).astype(np.float32)], verbose=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
hyp = model.transcribe([{path!r}], verbose=False, return_hypotheses=True)[0]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"frames": int(hyp.y_sequence.shape[0]), "growth_mb": (after - before) / 1024, "peak_mb": after / 1024}}))
"""

HOUR_GROWTH_LIMIT_MB = 200  # documented in bench/README.md: chunked transcription of an hour, char CTC model


@pytest.mark.slow
def test_an_hour_of_silence_transcribes_within_the_documented_memory(tmp_path):
    path = str(tmp_path / "hour.wav")
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        block = np.zeros(16000 * 60, dtype=np.int16)
        for _ in range(60):
            f.write(block)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _HOUR_CHILD.format(repo=REPO, path=path)], capture_output=True,
                         text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["frames"] == 3600 * 16000 // 320  # every 20 ms frame of the hour, once (as one pass counts)
    assert result["growth_mb"] < HOUR_GROWTH_LIMIT_MB, result
