"""Augmentors from NeMo's `augmentor` config: each effect, probabilities, and seeded repeatability."""

import numpy as np
import pytest
import torch

from nemo.collections.asr.parts.preprocessing.perturb import (
    AudioAugmentor,
    GainPerturbation,
    ShiftPerturbation,
    SpeedPerturbation,
    TimeStretchPerturbation,
    WhiteNoisePerturbation,
    phase_vocoder_stretch,
    process_augmentations,
)
from nemo.collections.asr.parts.preprocessing.segment import AudioSegment

SR = 16000


def _segment(seconds=1.0, freq=440.0):
    t = np.arange(int(SR * seconds)) / SR
    return AudioSegment((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)


def _dominant_freq(x):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * SR / len(x)


def test_white_noise_adds_noise_at_the_drawn_level():
    seg = _segment()
    clean = seg.samples.copy()
    WhiteNoisePerturbation(min_level=-40, max_level=-40).perturb(seg, np.random.default_rng(0))
    noise = seg.samples - clean
    assert 20 * np.log10(noise.std()) == pytest.approx(-40, abs=0.5)


def test_gain_scales_by_db():
    seg = _segment()
    before = seg.rms_db
    GainPerturbation(min_gain_dbfs=6, max_gain_dbfs=6).perturb(seg, np.random.default_rng(0))
    assert seg.rms_db - before == pytest.approx(6.0, abs=1e-4)


def test_shift_moves_samples_and_zero_fills():
    seg = AudioSegment(np.arange(1, 1601, dtype=np.float32), SR)
    ShiftPerturbation(min_shift_ms=10, max_shift_ms=10).perturb(seg, np.random.default_rng(0))
    assert seg.samples[0] == 161 and np.all(seg.samples[-160:] == 0)
    seg = AudioSegment(np.arange(1, 1601, dtype=np.float32), SR)
    ShiftPerturbation(min_shift_ms=-10, max_shift_ms=-10).perturb(seg, np.random.default_rng(0))
    assert np.all(seg.samples[:160] == 0) and seg.samples[160] == 1 and seg.num_samples == 1600


def test_speed_changes_length_and_pitch():
    seg = _segment(1.0, 400)
    SpeedPerturbation(sr=SR, min_speed_rate=1.25, max_speed_rate=1.25, num_rates=1).perturb(seg, np.random.default_rng(0))
    assert seg.num_samples == 12800  # 1 s at 1.25x speed
    assert _dominant_freq(seg.samples) == pytest.approx(500, abs=5)


def test_time_stretch_changes_length_not_pitch():
    seg = _segment(1.0, 400)
    TimeStretchPerturbation(min_speed_rate=1.25, max_speed_rate=1.25, num_rates=1).perturb(seg, np.random.default_rng(0))
    assert seg.num_samples == 12800
    assert _dominant_freq(seg.samples[1000:-1000]) == pytest.approx(400, abs=8)
    assert phase_vocoder_stretch(np.zeros(4000, np.float32), 0.8).shape == (5000,)


def test_rate_grid_with_num_rates():
    p = SpeedPerturbation(sr=SR, min_speed_rate=0.9, max_speed_rate=1.1, num_rates=3)
    lengths = set()
    rng = np.random.default_rng(1)
    for _ in range(30):
        seg = _segment(0.5)
        p.perturb(seg, rng)
        lengths.add(seg.num_samples)
    assert lengths == {8889, 8000, 7273}


def test_process_augmentations_builds_pipeline_from_config():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({
        "shuffle": True,
        "seed": 5,
        "white_noise": {"prob": 0.5, "min_level": -90, "max_level": -46},
        "gain": {"prob": 0.3, "min_gain_dbfs": -10, "max_gain_dbfs": 10},
        "shift": {"prob": 1.0, "min_shift_ms": -5, "max_shift_ms": 5},
        "speed": {"prob": 0.2, "sr": 16000, "resample_type": "kaiser_fast", "min_speed_rate": 0.9, "max_speed_rate": 1.1, "num_rates": 5},
        "time_stretch": {"prob": 0.2, "min_speed_rate": 0.9, "max_speed_rate": 1.1},
    })
    aug = process_augmentations(cfg, global_rank=2)
    kinds = [type(p).__name__ for _, p in aug.perturbations]
    assert kinds == ["WhiteNoisePerturbation", "GainPerturbation", "ShiftPerturbation", "SpeedPerturbation", "TimeStretchPerturbation"]
    assert [prob for prob, _ in aug.perturbations] == [0.5, 0.3, 1.0, 0.2, 0.2]
    assert aug.shuffle and aug.seed == 7  # seed offset by rank
    assert process_augmentations(None) is None


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"reverb": {"prob": 0.5}}, "Unknown augmentation 'reverb'"),
        ({"gain": {"min_gain_dbfs": 0}}, "needs a 'prob'"),
        ({"gain": {"prob": 1.5}}, "prob must be in"),
        ({"gain": {"prob": 0.5, "loudness": 3}}, "bad parameters"),
    ],
)
def test_process_augmentations_rejects_bad_config(cfg, message):
    with pytest.raises(ValueError, match=message):
        process_augmentations(cfg)


def test_prob_zero_and_one():
    seg = _segment()
    before = seg.samples.copy()
    AudioAugmentor([(0.0, GainPerturbation(6, 6))], seed=0).perturb(seg)
    assert np.array_equal(seg.samples, before)
    AudioAugmentor([(1.0, GainPerturbation(6, 6))], seed=0).perturb(seg)
    assert not np.array_equal(seg.samples, before)


def _run(aug, n=6):
    out = []
    for i in range(n):
        seg = _segment(0.25, 300 + 50 * i)
        out.append(aug.perturb(seg).samples.copy())
    return out


def test_seeded_augmentor_repeats_and_seeds_differ():
    cfg = {"seed": 11, "white_noise": {"prob": 0.5, "min_level": -50, "max_level": -30},
           "speed": {"prob": 0.5, "sr": SR, "min_speed_rate": 0.9, "max_speed_rate": 1.1, "num_rates": 0}}
    a, b = _run(process_augmentations(cfg)), _run(process_augmentations(cfg))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = _run(process_augmentations({**cfg, "seed": 12}))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))


class _Clips(torch.utils.data.Dataset):
    def __init__(self, augmentor):
        self.augmentor = augmentor

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.from_numpy(self.augmentor.perturb(_segment(0.1, 200 + 10 * i)).samples)


def _epoch(augmentor, seed):
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(_Clips(augmentor), batch_size=None, num_workers=2)
    return [x.numpy() for x in loader]


def test_dataloader_workers_repeat_when_torch_is_seeded():
    cfg = {"seed": 3, "white_noise": {"prob": 1.0, "min_level": -40, "max_level": -20}}
    first, second = _epoch(process_augmentations(cfg), 0), _epoch(process_augmentations(cfg), 0)
    assert all(np.array_equal(x, y) for x, y in zip(first, second))
    other = _epoch(process_augmentations(cfg), 1)
    assert not any(np.array_equal(x, y) for x, y in zip(first, other))
    # items 0 and 1 come from different workers, whose first draws must differ
    noise0, noise1 = first[0] - _segment(0.1, 200).samples, first[1] - _segment(0.1, 210).samples
    assert not np.allclose(noise0, noise1)


def test_ranks_draw_different_augmentations_without_a_seed():
    cfg = {"white_noise": {"prob": 1.0, "min_level": -40, "max_level": -20}}
    torch.manual_seed(0)
    rank0 = _run(process_augmentations(cfg, global_rank=0), n=2)
    torch.manual_seed(0)
    rank0_again = _run(process_augmentations(cfg, global_rank=0), n=2)
    torch.manual_seed(0)
    rank1 = _run(process_augmentations(cfg, global_rank=1), n=2)
    assert all(np.array_equal(a, b) for a, b in zip(rank0, rank0_again))
    assert not any(np.array_equal(a, b) for a, b in zip(rank0, rank1))


def test_noise_from_manifest_at_requested_snr(tmp_path):
    import json

    import soundfile as sf

    rng = np.random.default_rng(0)
    sf.write(str(tmp_path / "n.wav"), (0.3 * rng.standard_normal(4000)).astype(np.float32), 8000)  # shorter, other rate
    (tmp_path / "noise.json").write_text(json.dumps({"audio_filepath": "n.wav", "duration": 0.5}) + "\n")
    aug = process_augmentations({"seed": 0, "noise": {"prob": 1.0, "manifest_path": str(tmp_path / "noise.json"), "min_snr_db": 10, "max_snr_db": 10}})
    seg = _segment(1.0)
    clean = seg.samples.copy()
    aug.perturb(seg)
    added = seg.samples - clean
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2))
    assert seg.num_samples == clean.size and snr == pytest.approx(10.0, abs=0.05)
