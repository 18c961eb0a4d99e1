"""Audio reading (soundfile), band-limited resampling and silence trimming.

`AudioSegment` holds float32 samples at one sample rate; augmentations modify them in place.
Resampling is a Kaiser-windowed sinc interpolator (no librosa/scipy dependency), so results
differ from NeMo's librosa/soxr resampling in the last bits, not in content.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable, Optional, Union

import numpy as np

_RESAMPLE_WIDTHS = {"kaiser_best": 32, "soxr_vhq": 32, "soxr_hq": 24, "kaiser_fast": 8, "soxr_qq": 8}


def _kaiser_sinc(dist: np.ndarray, cutoff: float, half: int, beta: float = 8.6) -> np.ndarray:
    u = np.clip(dist / (half + 1), -1.0, 1.0)
    return cutoff * np.sinc(cutoff * dist) * np.i0(beta * np.sqrt(1.0 - u * u)) / np.i0(beta)


@functools.lru_cache(maxsize=32)
def _polyphase_bank(up: int, down: int, cutoff: float, half: int) -> np.ndarray:
    """(up, K) filters: row p produces outputs n = p (mod up), whose input position is n*down/up."""
    phases = np.arange(up)
    base = (phases * down) // up
    offsets = np.arange(-half + 1, half + 1)
    bank = np.zeros((up, int(base[-1]) + 2 * half), dtype=np.float32)
    dist = (phases * down / up - base)[:, None] - offsets[None, :]
    cols = base[:, None] + offsets[None, :] + half - 1
    bank[phases[:, None], cols] = _kaiser_sinc(dist, cutoff, half)
    return bank


def _resample_direct(x: np.ndarray, ratio: float, n_out: int, cutoff: float, half: int) -> np.ndarray:
    """Any ratio: evaluate the windowed sinc at each output position (slower; used for odd ratios)."""
    padded = np.concatenate([np.zeros((half, x.shape[1])), x, np.zeros((half + 1, x.shape[1]))])
    offsets = np.arange(-half + 1, half + 1)
    out = np.empty((n_out, x.shape[1]), dtype=np.float64)
    chunk = max(1, 262144 // offsets.size)
    for start in range(0, n_out, chunk):
        pos = np.arange(start, min(n_out, start + chunk)) / ratio
        taps = np.floor(pos).astype(np.int64)[:, None] + offsets[None, :]
        weights = _kaiser_sinc(pos[:, None] - taps, cutoff, half)
        out[start : start + len(pos)] = np.einsum("ck,ckh->ch", weights, padded[taps + half])
    return out


def resample(
    samples: np.ndarray, orig_sr: float, target_sr: float, res_type: str = "soxr_hq", rolloff: float = 0.95
) -> np.ndarray:
    """Resample `samples` (time on axis 0) from `orig_sr` to `target_sr`; length = ceil(n * ratio)."""
    samples = np.asarray(samples)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr or samples.shape[0] == 0:
        return samples.astype(np.float32, copy=True)
    ratio = float(target_sr) / float(orig_sr)
    cutoff = min(1.0, ratio) * rolloff  # normalised to the input Nyquist frequency
    half = int(math.ceil(_RESAMPLE_WIDTHS.get(res_type, 16) / cutoff))
    x = samples.astype(np.float32)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    n_in = x.shape[0]
    n_out = int(math.ceil(n_in * ratio))
    up, down = (0, 0)
    if float(orig_sr).is_integer() and float(target_sr).is_integer():
        g = math.gcd(int(orig_sr), int(target_sr))
        up, down = int(target_sr) // g, int(orig_sr) // g
    if 0 < up <= 2000:
        bank = _polyphase_bank(up, down, cutoff, half)  # (up, K)
        frames = -(-n_out // up)
        left = half - 1
        length = max((frames - 1) * down + bank.shape[1], left + n_in)
        out = np.empty((frames * up, x.shape[1]), dtype=np.float32)
        for c in range(x.shape[1]):
            padded = np.zeros(length, dtype=np.float32)
            padded[left : left + n_in] = x[:, c]
            windows = np.lib.stride_tricks.sliding_window_view(padded, bank.shape[1])[::down][:frames]
            # row m, phase p -> output m * up + p; einsum avoids multi-threaded BLAS (slow on busy CPUs)
            out[:, c] = np.einsum("fk,pk->fp", windows, bank).reshape(-1)
        out = out[:n_out]
    else:
        out = _resample_direct(x.astype(np.float64), ratio, n_out, cutoff, half)
    out = np.ascontiguousarray(out, dtype=np.float32)
    return out[:, 0] if squeeze else out


def trim_silence(
    samples: np.ndarray, top_db: float = 60.0, frame_length: int = 2048, hop_length: int = 512
) -> np.ndarray:
    """Cut leading/trailing frames quieter than `top_db` below the loudest frame (librosa.effects.trim rule)."""
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    if mono.size == 0:
        return samples
    pad = frame_length // 2
    padded = np.pad(mono.astype(np.float64), (pad, pad))
    n_frames = 1 + (padded.size - frame_length) // hop_length
    squares = padded * padded
    if frame_length % hop_length == 0:  # frame energy = sum of whole hop-sized blocks
        per_frame = frame_length // hop_length
        blocks = squares[: (n_frames - 1 + per_frame) * hop_length].reshape(-1, hop_length).sum(axis=1)
        power = np.lib.stride_tricks.sliding_window_view(blocks, per_frame).sum(axis=1)[:n_frames] / frame_length
    else:
        cumulative = np.concatenate([[0.0], np.cumsum(squares)])
        starts = hop_length * np.arange(n_frames)
        power = np.maximum(cumulative[starts + frame_length] - cumulative[starts], 0.0) / frame_length
    ref = power.max()
    if ref <= 0:
        return samples[:0]
    db = 10.0 * np.log10(np.maximum(power, 1e-10) / ref)
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return samples[:0]
    start = int(loud[0] * hop_length)
    end = min(mono.size, int((loud[-1] + 1) * hop_length))
    return samples[start:end]


def select_channels(samples: np.ndarray, channel_selector: Union[None, str, int, Iterable[int]]) -> np.ndarray:
    """Keep all channels (None), downmix ('average'), or pick one index / a list of indices."""
    if channel_selector is None or samples.ndim == 1:
        return samples
    if channel_selector == "average":
        return samples.mean(axis=1)
    if isinstance(channel_selector, int):
        return samples[:, channel_selector]
    if isinstance(channel_selector, str):
        raise ValueError(f"Unknown channel_selector '{channel_selector}' (use None, 'average', an int or a list)")
    return samples[:, list(channel_selector)]


class AudioSegment:
    """Float32 audio samples and their sample rate; resampled to `target_sr` and trimmed on request."""

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: int,
        target_sr: Optional[int] = None,
        trim: bool = False,
        trim_top_db: float = 60.0,
        trim_frame_length: int = 2048,
        trim_hop_length: int = 512,
        channel_selector=None,
        res_type: str = "soxr_hq",
    ):
        samples = self._convert_samples(samples)
        samples = select_channels(samples, channel_selector)
        if target_sr is not None and target_sr != sample_rate:
            samples = resample(samples, sample_rate, target_sr, res_type=res_type)
            orig_sr, sample_rate = sample_rate, target_sr
        else:
            orig_sr = sample_rate
        if trim:
            samples = trim_silence(samples, trim_top_db, trim_frame_length, trim_hop_length)
        self._samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._sample_rate = int(sample_rate)
        self.orig_sr = orig_sr

    @staticmethod
    def _convert_samples(samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples)
        if np.issubdtype(samples.dtype, np.integer):
            bits = np.iinfo(samples.dtype).bits
            return samples.astype(np.float32) / float(2 ** (bits - 1))
        return samples.astype(np.float32)

    @classmethod
    def from_file(
        cls,
        audio_file,
        target_sr: Optional[int] = None,
        int_values: bool = False,
        offset: float = 0.0,
        duration: float = 0.0,
        trim: bool = False,
        channel_selector=None,
        **kwargs,
    ) -> "AudioSegment":
        """Read `duration` seconds (0 = all) from `offset` of a file soundfile can open."""
        import soundfile as sf

        with sf.SoundFile(audio_file, "r") as f:
            sr = f.samplerate
            if offset and offset > 0:
                f.seek(int(offset * sr))
            frames = int(duration * sr) if duration and duration > 0 else -1
            samples = f.read(frames=frames, dtype="int32" if int_values else "float32")
        return cls(samples, sr, target_sr=target_sr, trim=trim, channel_selector=channel_selector, **kwargs)

    @property
    def samples(self) -> np.ndarray:
        return self._samples

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def num_samples(self) -> int:
        return self._samples.shape[0]

    @property
    def duration(self) -> float:
        return self.num_samples / float(self._sample_rate)

    @property
    def rms_db(self) -> float:
        mean_square = float(np.mean(np.square(self._samples, dtype=np.float64))) if self.num_samples else 0.0
        return 10.0 * math.log10(max(mean_square, 1e-20))

    def gain_db(self, gain: float) -> None:
        """Scale the samples by `gain` decibels."""
        self._samples = self._samples * np.float32(10.0 ** (gain / 20.0))

    def pad(self, pad_size: int, symmetric: bool = False) -> None:
        """Append `pad_size` zeros (on both sides when `symmetric`)."""
        widths = [(pad_size if symmetric else 0, pad_size)] + [(0, 0)] * (self._samples.ndim - 1)
        self._samples = np.pad(self._samples, widths)

    def subsegment(self, start_time: Optional[float] = None, end_time: Optional[float] = None) -> None:
        """Keep only [start_time, end_time) seconds; negative times count from the end."""
        start = 0.0 if start_time is None else start_time
        end = self.duration if end_time is None else end_time
        start = start + self.duration if start < 0 else start
        end = end + self.duration if end < 0 else end
        if not 0 <= start <= end <= self.duration + 1e-9:
            raise ValueError(f"invalid subsegment [{start_time}, {end_time}] of a {self.duration:.3f}s segment")
        self._samples = self._samples[int(round(start * self._sample_rate)) : int(round(end * self._sample_rate))]

    def __repr__(self) -> str:
        return f"AudioSegment(num_samples={self.num_samples}, sample_rate={self._sample_rate}, duration={self.duration:.3f}s)"
