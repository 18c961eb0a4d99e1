"""Waveform augmentations built from a dataset's `augmentor` config (NeMo's perturbation names).

Each perturbation changes an `AudioSegment` in place using a numpy `Generator` handed in by the
`AudioAugmentor`, which owns the randomness so that a seeded run repeats exactly.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Type

import numpy as np

from nemo.collections.asr.parts.preprocessing.segment import AudioSegment, resample
from nemo.utils import logging


class Perturbation:
    """Base class: subclasses implement `perturb(segment, rng)`."""

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k.lstrip('_')}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _choose_rate(rng: np.random.Generator, low: float, high: float, num_rates: int) -> float:
    if low <= 0 or high < low:
        raise ValueError(f"need 0 < min_speed_rate <= max_speed_rate, got {low}, {high}")
    if num_rates > 0:
        return float(rng.choice(np.linspace(low, high, num_rates, endpoint=True)))
    return float(rng.uniform(low, high))


class WhiteNoisePerturbation(Perturbation):
    """Adds Gaussian noise whose level (dBFS) is drawn from [min_level, max_level]."""

    def __init__(self, min_level: float = -90, max_level: float = -46):
        self._min_level, self._max_level = float(min_level), float(max_level)

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        level_db = rng.uniform(self._min_level, self._max_level)
        noise = rng.standard_normal(data._samples.shape, dtype=np.float32) * np.float32(10.0 ** (level_db / 20.0))
        data._samples = data._samples + noise


class GainPerturbation(Perturbation):
    """Scales the signal by a gain (dB) drawn from [min_gain_dbfs, max_gain_dbfs]."""

    def __init__(self, min_gain_dbfs: float = -10, max_gain_dbfs: float = 10):
        self._min_gain_dbfs, self._max_gain_dbfs = float(min_gain_dbfs), float(max_gain_dbfs)

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        data.gain_db(rng.uniform(self._min_gain_dbfs, self._max_gain_dbfs))


class ShiftPerturbation(Perturbation):
    """Shifts the signal in time by [min_shift_ms, max_shift_ms], zero-filling; positive moves it earlier."""

    def __init__(self, min_shift_ms: float = -5.0, max_shift_ms: float = 5.0):
        self._min_shift_ms, self._max_shift_ms = float(min_shift_ms), float(max_shift_ms)

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        shift_ms = rng.uniform(self._min_shift_ms, self._max_shift_ms)
        if abs(shift_ms) / 1000.0 > data.duration:
            return  # shifting by more than the whole clip would leave silence only
        shift = int(shift_ms * data.sample_rate / 1000.0)
        if shift == 0:
            return
        out = np.zeros_like(data._samples)
        if shift > 0:
            out[:-shift] = data._samples[shift:]
        else:
            out[-shift:] = data._samples[:shift]
        data._samples = out


class SpeedPerturbation(Perturbation):
    """Changes speed and pitch together by resampling; rate > 1 makes the clip shorter.

    `num_rates > 0` picks from that many evenly spaced rates; otherwise a continuous rate
    (rounded to a 1/400 step of `sr` so the polyphase resampler stays small).
    """

    def __init__(
        self,
        sr: int,
        resample_type: str = "kaiser_fast",
        min_speed_rate: float = 0.9,
        max_speed_rate: float = 1.1,
        num_rates: int = 5,
        scale_type=None,
    ):
        _choose_rate(np.random.default_rng(0), min_speed_rate, max_speed_rate, 0)  # validates the range
        self._sr, self._resample_type = int(sr), resample_type
        self._min_rate, self._max_rate, self._num_rates = float(min_speed_rate), float(max_speed_rate), int(num_rates)

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        rate = _choose_rate(rng, self._min_rate, self._max_rate, self._num_rates)
        step = max(1, self._sr // 400)
        source_sr = int(round(data.sample_rate * rate / step)) * step
        if source_sr == data.sample_rate:
            return
        data._samples = resample(data._samples, source_sr, data.sample_rate, res_type=self._resample_type)


class TimeStretchPerturbation(Perturbation):
    """Changes tempo without changing pitch (phase vocoder); rate > 1 makes the clip shorter."""

    def __init__(self, min_speed_rate: float = 0.9, max_speed_rate: float = 1.1, num_rates: int = 5, n_fft: int = 512):
        _choose_rate(np.random.default_rng(0), min_speed_rate, max_speed_rate, 0)
        self._min_rate, self._max_rate, self._num_rates = float(min_speed_rate), float(max_speed_rate), int(num_rates)
        self._n_fft = int(n_fft)

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        rate = _choose_rate(rng, self._min_rate, self._max_rate, self._num_rates)
        if abs(rate - 1.0) < 1e-6 or data.num_samples < self._n_fft:
            return
        data._samples = phase_vocoder_stretch(data._samples, rate, self._n_fft)


class NoisePerturbation(Perturbation):
    """Adds a random clip from a noise manifest at an SNR drawn from [min_snr_db, max_snr_db].

    The noise is tiled when shorter than the signal and cut at a random offset when longer;
    its gain is capped at `max_gain_db`.
    """

    def __init__(self, manifest_path, min_snr_db: float = 10, max_snr_db: float = 50, max_gain_db: float = 300.0, orig_sr: int = 16000, rng=None):
        from nemo.collections.asr.parts.preprocessing.manifest import read_manifest

        self._entries = read_manifest(manifest_path)
        if not self._entries:
            raise ValueError(f"noise manifest {manifest_path} has no entries")
        self._min_snr_db, self._max_snr_db, self._max_gain_db = float(min_snr_db), float(max_snr_db), float(max_gain_db)

    def __repr__(self) -> str:
        return f"NoisePerturbation({len(self._entries)} clips, snr=[{self._min_snr_db}, {self._max_snr_db}] dB)"

    def perturb(self, data: AudioSegment, rng: np.random.Generator) -> None:
        entry = self._entries[int(rng.integers(len(self._entries)))]
        noise = AudioSegment.from_file(entry.audio_file, target_sr=data.sample_rate, offset=entry.offset, duration=entry.duration, channel_selector="average").samples
        if noise.size == 0 or data.num_samples == 0:
            return
        if noise.size < data.num_samples:
            noise = np.tile(noise, -(-data.num_samples // noise.size))
        start = int(rng.integers(noise.size - data.num_samples + 1))
        noise = noise[start : start + data.num_samples]
        noise_db = 10.0 * np.log10(max(float(np.mean(np.square(noise, dtype=np.float64))), 1e-20))
        snr_db = rng.uniform(self._min_snr_db, self._max_snr_db)
        gain_db = min(data.rms_db - noise_db - snr_db, self._max_gain_db)
        data._samples = data._samples + noise * np.float32(10.0 ** (gain_db / 20.0))


def _stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1).T  # (F, T)


def _istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * window
    total = n_fft + hop * (frames.shape[0] - 1)
    out, norm = np.zeros(total), np.zeros(total)
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += window**2
    out = out / np.where(norm > 1e-8, norm, 1.0)
    out = out[n_fft // 2 :][:length]
    return np.pad(out, (0, length - out.size))


def phase_vocoder_stretch(samples: np.ndarray, rate: float, n_fft: int = 512) -> np.ndarray:
    """Time-stretch a mono signal by `rate` (output length ~ len / rate) keeping its pitch."""
    hop = n_fft // 4
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    spec = _stft(np.asarray(samples, dtype=np.float64), n_fft, hop, window)
    steps = np.arange(0, spec.shape[1], rate)
    spec = np.pad(spec, ((0, 0), (0, 2)))
    lo = np.floor(steps).astype(np.int64)
    alpha = (steps - lo)[None, :]
    c0, c1 = spec[:, lo], spec[:, lo + 1]
    mag = (1.0 - alpha) * np.abs(c0) + alpha * np.abs(c1)
    advance = np.linspace(0, np.pi * hop, spec.shape[0])[:, None]  # expected phase advance per hop
    dphase = np.angle(c1) - np.angle(c0) - advance
    dphase = dphase - 2.0 * np.pi * np.round(dphase / (2.0 * np.pi))
    phase = np.angle(spec[:, :1]) + np.concatenate(
        [np.zeros_like(dphase[:, :1]), np.cumsum(advance + dphase, axis=1)[:, :-1]], axis=1
    )
    out = _istft(mag * np.exp(1j * phase), n_fft, hop, window, int(round(len(samples) / rate)))
    return out.astype(np.float32)


perturbation_types: Dict[str, Type[Perturbation]] = {
    "white_noise": WhiteNoisePerturbation,
    "gain": GainPerturbation,
    "shift": ShiftPerturbation,
    "speed": SpeedPerturbation,
    "time_stretch": TimeStretchPerturbation,
    "noise": NoisePerturbation,
}


def register_perturbation(name: str, perturbation: Type[Perturbation], override: bool = False) -> None:
    """Make `name` usable in `augmentor` configs."""
    if name in perturbation_types and not override:
        raise ValueError(f"Perturbation '{name}' is already registered")
    perturbation_types[name] = perturbation


class AudioAugmentor:
    """Applies each `(prob, perturbation)` with its probability, in order or shuffled.

    Randomness: with `seed` set, the main process draws from `seed`; inside a DataLoader worker the
    stream is re-derived from `(seed, rank, worker seed)`, and the worker seed comes from torch's RNG, so
    a run repeats whenever torch is seeded (e.g. `seed_everything`). Without `seed`, torch's seed is used.
    """

    def __init__(self, perturbations: Optional[List[Tuple[float, Perturbation]]] = None, rng=None, shuffle: bool = False, seed: Optional[int] = None, rank: int = 0):
        self._pipeline = list(perturbations or [])
        self.rank = int(rank)  # keeps ranks apart even when all ranks seed torch alike
        self.shuffle = shuffle
        self.seed = seed
        self._rng: Optional[np.random.Generator] = rng if isinstance(rng, np.random.Generator) else None
        if rng is not None and not isinstance(rng, np.random.Generator):
            self.seed = int(rng)  # NeMo accepts an int seed as `rng`
        self._rng_key = "given" if self._rng is not None else None

    @property
    def perturbations(self) -> List[Tuple[float, Perturbation]]:
        return list(self._pipeline)

    def reseed(self, seed: int) -> None:
        """Restart the random stream from `seed`."""
        self._rng = np.random.default_rng(seed)
        self._rng_key = "reseeded"

    def _generator(self) -> np.random.Generator:
        import torch

        info = torch.utils.data.get_worker_info()
        if info is not None:
            key = ("worker", info.seed)
            if self._rng_key != key:
                self._rng = np.random.default_rng([0 if self.seed is None else int(self.seed), self.rank, info.seed % 2**63])
                self._rng_key = key
        elif self._rng is None or (isinstance(self._rng_key, tuple)):
            seed = [torch.initial_seed() % 2**63, self.rank] if self.seed is None else int(self.seed)
            self._rng = np.random.default_rng(seed)
            self._rng_key = "main"
        return self._rng

    def perturb(self, segment: AudioSegment) -> AudioSegment:
        rng = self._generator()
        order = list(range(len(self._pipeline)))
        if self.shuffle:
            rng.shuffle(order)
        for i in order:
            prob, perturbation = self._pipeline[i]
            if rng.random() < prob:
                perturbation.perturb(segment, rng)
        return segment

    def max_augmentation_length(self, length: float) -> float:
        """Longest duration a clip of `length` seconds can reach after speed/time-stretch."""
        for _, p in self._pipeline:
            if isinstance(p, (SpeedPerturbation, TimeStretchPerturbation)):
                length = length / p._min_rate
        return length

    def __repr__(self) -> str:
        return f"AudioAugmentor(perturbations={self._pipeline}, shuffle={self.shuffle}, seed={self.seed})"


def process_augmentations(augmenter, global_rank: int = 0, world_size: int = 1) -> Optional[AudioAugmentor]:
    """Build an `AudioAugmentor` from `{name: {prob, ...kwargs}, shuffle?, seed?}` (dict or DictConfig).

    A `seed` is offset by `global_rank` so ranks draw different augmentations.
    """
    if augmenter is None:
        return None
    if isinstance(augmenter, AudioAugmentor):
        return augmenter
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(augmenter, DictConfig):
            augmenter = OmegaConf.to_container(augmenter, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a core dependency
        pass
    if not isinstance(augmenter, dict):
        raise ValueError(f"augmentor config must be a mapping of perturbation name -> params, got {type(augmenter).__name__}")
    augmenter = dict(augmenter)
    shuffle = bool(augmenter.pop("shuffle", False))
    seed = augmenter.pop("seed", None)
    if seed is not None:
        seed = int(seed) + int(global_rank)
    pipeline = []
    for name, kwargs in augmenter.items():
        if name not in perturbation_types:
            raise ValueError(f"Unknown augmentation '{name}'; known: {sorted(perturbation_types)}")
        kwargs = dict(kwargs or {})
        if "prob" not in kwargs:
            raise ValueError(f"Augmentation '{name}' needs a 'prob' in [0, 1]")
        prob = float(kwargs.pop("prob"))
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"Augmentation '{name}': prob must be in [0, 1], got {prob}")
        try:
            pipeline.append((prob, perturbation_types[name](**kwargs)))
        except TypeError as err:
            raise ValueError(f"Augmentation '{name}': bad parameters {sorted(kwargs)}: {err}") from err
    augmentor = AudioAugmentor(perturbations=pipeline, shuffle=shuffle, seed=seed, rank=global_rank)
    logging.debug("Built %r", augmentor)
    return augmentor
