"""Audio preprocessors (waveform -> log-mel) and spectrogram augmentation (spec §5-§6)."""

from dataclasses import dataclass
from typing import Optional, Union

import torch

from nemo.core.classes.common import typecheck
from nemo.core.classes.exportable import Exportable
from nemo.core.classes.module import NeuralModule
from nemo.core.neural_types import AudioSignal, LengthsType, MelSpectrogramType, NeuralType, SpectrogramType
from nemo.utils import logging


class AudioPreprocessor(NeuralModule):
    """Base: casts audio to float32, computes features, returns them in the module's dtype."""

    def __init__(self, win_length: int, hop_length: int):
        super().__init__()
        self.win_length = win_length
        self.hop_length = hop_length
        self.register_buffer("dtype_sentinel_tensor", torch.tensor((), dtype=torch.float32), persistent=False)
        self._warned_dtype = False

    @typecheck()
    @torch.no_grad()
    def forward(self, input_signal: torch.Tensor, length: torch.Tensor):
        if input_signal.dtype != torch.float32 and not self._warned_dtype:
            logging.warning(f"AudioPreprocessor received an input signal of dtype {input_signal.dtype}, "
                            "rather than torch.float32; it is cast to float32.")
            self._warned_dtype = True
        processed_signal, processed_length = self.get_features(input_signal.to(torch.float32), length)
        return processed_signal.to(self.dtype_sentinel_tensor.dtype), processed_length

    def get_features(self, input_signal: torch.Tensor, length: torch.Tensor):
        raise NotImplementedError(f"{type(self).__name__} must implement get_features")


class AudioToMelSpectrogramPreprocessor(AudioPreprocessor, Exportable):
    """NeMo's log-mel featurizer; its buffers live under `featurizer.` (`window`, `fb`)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        window_size: Optional[float] = 0.02,
        window_stride: Optional[float] = 0.01,
        n_window_size: Optional[int] = None,
        n_window_stride: Optional[int] = None,
        window: str = "hann",
        normalize: Union[str, dict, None] = "per_feature",
        n_fft: Optional[int] = None,
        preemph: Optional[float] = 0.97,
        features: int = 64,
        lowfreq: float = 0,
        highfreq: Optional[float] = None,
        log: bool = True,
        log_zero_guard_type: str = "add",
        log_zero_guard_value: Union[float, str] = 2**-24,
        dither: float = 1e-5,
        pad_to: Union[int, str] = 16,
        frame_splicing: int = 1,
        exact_pad: bool = False,
        pad_value: float = 0,
        mag_power: float = 2.0,
        rng=None,
        nb_augmentation_prob: float = 0.0,
        nb_max_freq: int = 4000,
        use_torchaudio: bool = False,
        mel_norm="slaney",
        stft_exact_pad: bool = False,
        stft_conv: bool = False,
    ):
        self._sample_rate = sample_rate
        if window_size and n_window_size:
            raise ValueError(f"{type(self).__name__} received both window_size and n_window_size; give only one.")
        if window_stride and n_window_stride:
            raise ValueError(f"{type(self).__name__} received both window_stride and n_window_stride; give only one.")
        if window_size:
            n_window_size = int(window_size * sample_rate)
        if window_stride:
            n_window_stride = int(window_stride * sample_rate)
        super().__init__(n_window_size, n_window_stride)
        if stft_exact_pad or stft_conv:
            logging.warning("stft_exact_pad and stft_conv are deprecated and ignored.")
        if use_torchaudio:
            raise ValueError("use_torchaudio=True (FilterbankFeaturesTA) is not supported by this implementation; "
                             "its checkpoints use different state-dict keys.")
        from nemo.collections.asr.parts.preprocessing.features import FilterbankFeatures

        self.featurizer = FilterbankFeatures(
            sample_rate=sample_rate,
            n_window_size=n_window_size,
            n_window_stride=n_window_stride,
            window=window,
            normalize=normalize,
            n_fft=n_fft,
            preemph=preemph,
            nfilt=features,
            lowfreq=lowfreq,
            highfreq=highfreq,
            log=log,
            log_zero_guard_type=log_zero_guard_type,
            log_zero_guard_value=log_zero_guard_value,
            dither=dither,
            pad_to=pad_to,
            frame_splicing=frame_splicing,
            exact_pad=exact_pad,
            pad_value=pad_value,
            mag_power=mag_power,
            rng=rng,
            nb_augmentation_prob=nb_augmentation_prob,
            nb_max_freq=nb_max_freq,
            mel_norm=mel_norm,
        )

    @property
    def input_types(self):
        return {
            "input_signal": NeuralType(("B", "T"), AudioSignal(freq=self._sample_rate)),
            "length": NeuralType(("B",), LengthsType()),
        }

    @property
    def output_types(self):
        return {
            "processed_signal": NeuralType(("B", "D", "T"), MelSpectrogramType()),
            "processed_length": NeuralType(("B",), LengthsType()),
        }

    def input_example(self, max_batch: int = 8, max_dim: int = 32000, min_length: int = 200):
        """Random waveforms of random lengths for export tests."""
        batch = torch.randint(low=1, high=max_batch + 1, size=[1]).item()
        max_length = torch.randint(low=min_length, high=max_dim + 1, size=[1]).item()
        signals = torch.rand(size=[batch, max_length]) * 2 - 1
        lengths = torch.randint(low=min_length, high=max_length + 1, size=[batch])
        lengths[0] = max_length
        return signals, lengths

    def get_features(self, input_signal: torch.Tensor, length: torch.Tensor):
        return self.featurizer(input_signal, length)

    @property
    def filter_banks(self) -> torch.Tensor:
        return self.featurizer.fb

    @property
    def sample_rate(self) -> int:
        return self._sample_rate


class SpectrogramAugmentation(NeuralModule):
    """SpecCutout rectangles, then SpecAugment frequency/time masks; active only when called."""

    def __init__(
        self,
        freq_masks: int = 0,
        time_masks: int = 0,
        freq_width: int = 10,
        time_width: Union[int, float] = 10,
        rect_masks: int = 0,
        rect_time: int = 5,
        rect_freq: int = 20,
        rng=None,
        mask_value: float = 0.0,
        use_vectorized_spec_augment: bool = True,
        use_numba_spec_augment: bool = False,
    ):
        super().__init__()
        from nemo.collections.asr.parts.submodules.spectr_augment import SpecAugment, SpecCutout

        self.spec_cutout = SpecCutout(rect_masks, rect_time, rect_freq, rng=rng) if rect_masks > 0 else None
        if freq_masks + time_masks > 0:
            self.spec_augment = SpecAugment(
                freq_masks, time_masks, freq_width, time_width, rng=rng, mask_value=mask_value,
                use_vectorized_code=use_vectorized_spec_augment,
            )
        else:
            self.spec_augment = None

    @property
    def input_types(self):
        return {
            "input_spec": NeuralType(("B", "D", "T"), SpectrogramType()),
            "length": NeuralType(("B",), LengthsType()),
        }

    @property
    def output_types(self):
        return {"augmented_spec": NeuralType(("B", "D", "T"), SpectrogramType())}

    @typecheck()
    def forward(self, input_spec: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        augmented = input_spec
        if self.spec_cutout is not None:
            augmented = self.spec_cutout(input_spec=augmented)
        if self.spec_augment is not None:
            augmented = self.spec_augment(input_spec=augmented, length=length)
        return augmented


@dataclass
class AudioToMelSpectrogramPreprocessorConfig:
    """Structured config mirroring AudioToMelSpectrogramPreprocessor's signature."""

    _target_: str = "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor"
    sample_rate: int = 16000
    window_size: float = 0.02
    window_stride: float = 0.01
    n_window_size: Optional[int] = None
    n_window_stride: Optional[int] = None
    window: str = "hann"
    normalize: str = "per_feature"
    n_fft: Optional[int] = None
    preemph: float = 0.97
    features: int = 64
    lowfreq: int = 0
    highfreq: Optional[int] = None
    log: bool = True
    log_zero_guard_type: str = "add"
    log_zero_guard_value: float = 2**-24
    dither: float = 1e-5
    pad_to: int = 16
    frame_splicing: int = 1
    exact_pad: bool = False
    pad_value: int = 0
    mag_power: float = 2.0
    rng: Optional[str] = None
    nb_augmentation_prob: float = 0.0
    nb_max_freq: int = 4000
    use_torchaudio: bool = False
    mel_norm: str = "slaney"
    stft_exact_pad: bool = False
    stft_conv: bool = False


@dataclass
class SpectrogramAugmentationConfig:
    """Structured config for SpectrogramAugmentation (all defaults 0, as NeMo's dataclass)."""

    _target_: str = "nemo.collections.asr.modules.SpectrogramAugmentation"
    freq_masks: int = 0
    time_masks: int = 0
    freq_width: int = 0
    time_width: Optional[float] = 0
    rect_masks: int = 0
    rect_time: int = 0
    rect_freq: int = 0
    mask_value: float = 0
    rng: Optional[int] = None
    use_numba_spec_augment: bool = False
