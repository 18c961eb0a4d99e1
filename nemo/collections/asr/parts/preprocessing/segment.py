"""Audio reading (soundfile) into `AudioSegment`, resampled and trimmed by the shared DSP helpers.

`AudioSegment` holds float32 samples at one sample rate; augmentations modify them in place.
`resample` and `trim_silence` live in `nemo.collections.common.parts.preprocessing` (TTS uses them too).
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Union

import numpy as np

from nemo.collections.common.parts.preprocessing.resample import resample
from nemo.collections.common.parts.preprocessing.silence import trim_silence


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


MIN_SAMPLE_RATE = 1000  # below this a header is taken to be broken: no speech recording is sampled slower
MAX_SAMPLE_RATE = 1_000_000
MAX_RESAMPLE_RATIO = 64.0  # upsampling further only invents samples (and memory: 1 Hz -> 16 kHz is x16000)


class AudioSampleRateError(ValueError):
    """An audio file's sample rate is outside what recordings use, or would resample absurdly."""


def check_sample_rate(sample_rate: float, where: str = "audio", target_sr: Optional[float] = None) -> None:
    """Refuse a rate outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] Hz, or upsampling past MAX_RESAMPLE_RATIO."""
    if not (MIN_SAMPLE_RATE <= float(sample_rate) <= MAX_SAMPLE_RATE):
        raise AudioSampleRateError(
            f"{where}: sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, so the file "
            "header is probably wrong; re-encode the audio with its real rate (e.g. `sox in.wav -r 16000 out.wav`)"
        )
    if target_sr is not None and float(target_sr) / float(sample_rate) > MAX_RESAMPLE_RATIO:
        raise AudioSampleRateError(
            f"{where}: refusing to resample {sample_rate} Hz -> {target_sr} Hz (more than {MAX_RESAMPLE_RATIO:g}x)"
        )


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
            if float(target_sr) / float(sample_rate) > MAX_RESAMPLE_RATIO:
                check_sample_rate(sample_rate, "AudioSegment", target_sr)
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
            check_sample_rate(sr, str(audio_file), target_sr)
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
