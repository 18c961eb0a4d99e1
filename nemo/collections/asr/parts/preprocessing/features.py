"""Log-mel filterbank features with NeMo 3.0's numerics (spec §5.3-§5.4), plus helpers."""

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from nemo.collections.common.parts.preprocessing.mel import mel_filterbank

CONSTANT = 1e-5

_WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
}


def normalize_batch(x: torch.Tensor, seq_len: torch.Tensor, normalize_type):
    """Normalise (B, D, T) features over their valid frames; returns (x, mean, std)."""
    batch, _, max_time = x.shape
    if normalize_type == "per_feature":
        # masks are applied by multiplying: much faster than torch.where/masked_fill on CPU
        valid = (torch.arange(max_time, device=x.device)[None, :] < seq_len[:, None]).unsqueeze(1).to(x.dtype)
        count = valid.sum(dim=2)  # (B, 1)
        mean = (x * valid).sum(dim=2) / count
        centred = (x - mean.unsqueeze(2)) * valid
        std = torch.sqrt(centred.pow(2).sum(dim=2) / (count - 1.0))
        std = std.masked_fill(std.isnan(), 0.0) + CONSTANT
        return (x - mean.unsqueeze(2)) / std.unsqueeze(2), mean, std
    if normalize_type == "all_features":
        mean = torch.zeros(batch, dtype=x.dtype, device=x.device)
        std = torch.zeros(batch, dtype=x.dtype, device=x.device)
        for i in range(batch):
            valid = x[i, :, : int(seq_len[i])]
            mean[i] = valid.mean()
            std[i] = valid.std()
        std = std + CONSTANT
        return (x - mean.view(-1, 1, 1)) / std.view(-1, 1, 1), mean, std
    if isinstance(normalize_type, dict) or hasattr(normalize_type, "keys"):
        if "fixed_mean" in normalize_type and "fixed_std" in normalize_type:
            mean = torch.tensor(normalize_type["fixed_mean"], device=x.device, dtype=x.dtype).reshape(batch, -1)
            std = torch.tensor(normalize_type["fixed_std"], device=x.device, dtype=x.dtype).reshape(batch, -1)
            return (x - mean.unsqueeze(2)) / std.unsqueeze(2), mean, std
    return x, None, None


def splice_frames(x: torch.Tensor, frame_splicing: int) -> torch.Tensor:
    """Stack `frame_splicing` copies along the feature axis (NeMo's effective behaviour)."""
    seq = [x]
    for n in range(1, frame_splicing):
        seq.append(torch.cat([x[:, :, :n], x[:, :, n:]], dim=2))
    return torch.cat(seq, dim=1)


class FilterbankFeatures(nn.Module):
    """Waveform (B, L) -> normalised log-mel spectrogram (B, nfilt, T) and frame counts (B,)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_window_size: int = 320,
        n_window_stride: int = 160,
        window: str = "hann",
        normalize: Union[str, dict, None] = "per_feature",
        n_fft: Optional[int] = None,
        preemph: Optional[float] = 0.97,
        nfilt: int = 64,
        lowfreq: float = 0,
        highfreq: Optional[float] = None,
        log: bool = True,
        log_zero_guard_type: str = "add",
        log_zero_guard_value: Union[float, str] = 2**-24,
        dither: float = CONSTANT,
        pad_to: Union[int, str] = 16,
        max_duration: float = 16.7,
        frame_splicing: int = 1,
        exact_pad: bool = False,
        pad_value: float = 0,
        mag_power: float = 2.0,
        use_grads: bool = False,
        rng=None,
        nb_augmentation_prob: float = 0.0,
        nb_max_freq: int = 4000,
        mel_norm="slaney",
        stft_exact_pad: bool = False,
        stft_conv: bool = False,
    ):
        super().__init__()
        if exact_pad and n_window_stride % 2 == 1:
            raise NotImplementedError(f"{type(self).__name__} received exact_pad == True with an odd hop length")
        for name, value in (("n_window_size", n_window_size), ("n_window_stride", n_window_stride)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.log_zero_guard_value = log_zero_guard_value
        self.sample_rate = sample_rate
        self.win_length = n_window_size
        self.hop_length = n_window_stride
        self.n_fft = n_fft or 2 ** math.ceil(math.log2(self.win_length))
        self.stft_pad_amount = (self.n_fft - self.hop_length) // 2 if exact_pad else None
        self.exact_pad = exact_pad
        window_fn = _WINDOWS.get(window) if isinstance(window, str) else None
        win = window_fn(self.win_length, periodic=False) if window_fn is not None else None
        self.register_buffer("window", win)
        self.normalize = normalize
        self.log = log
        self.dither = dither
        self.frame_splicing = frame_splicing
        self.nfilt = nfilt
        self.preemph = preemph
        self.pad_to = pad_to
        self.pad_value = pad_value
        self.mag_power = mag_power
        highfreq = highfreq or sample_rate / 2
        fb = mel_filterbank(sample_rate, self.n_fft, nfilt, lowfreq, highfreq, norm=mel_norm)
        self.register_buffer("fb", torch.tensor(fb, dtype=torch.float).unsqueeze(0))
        max_length = self.get_seq_len(torch.tensor(max_duration * sample_rate, dtype=torch.float))
        max_pad = pad_to - (max_length % pad_to) if isinstance(pad_to, int) and pad_to > 0 else 0
        self.max_length = max_length + max_pad
        if log_zero_guard_type not in ("add", "clamp"):
            raise ValueError(f"{type(self).__name__} received {log_zero_guard_type!r} for log_zero_guard_type; "
                             "it must be 'add' or 'clamp'.")
        self.log_zero_guard_type = log_zero_guard_type
        self.use_grads = use_grads
        self._rng = rng
        self.nb_augmentation_prob = nb_augmentation_prob
        if nb_augmentation_prob > 0.0 and nb_max_freq >= sample_rate / 2:
            self.nb_augmentation_prob = 0.0
        self._nb_max_fft_bin = int((nb_max_freq / sample_rate) * self.n_fft) if self.nb_augmentation_prob else None

    def log_zero_guard_value_fn(self, x: torch.Tensor) -> float:
        """The additive/clamp guard, resolving 'tiny'/'eps' for x's dtype."""
        value = self.log_zero_guard_value
        if isinstance(value, str):
            if value == "tiny":
                return torch.finfo(x.dtype).tiny
            if value == "eps":
                return torch.finfo(x.dtype).eps
            raise ValueError(f"log_zero_guard_value must be a number, 'tiny' or 'eps', got {value!r}")
        return value

    def get_seq_len(self, seq_len: torch.Tensor) -> torch.Tensor:
        """Valid frame count (NeMo >= 2.5): floor((L + P - n_fft) / hop)."""
        pad_amount = self.stft_pad_amount * 2 if self.stft_pad_amount is not None else self.n_fft // 2 * 2
        return torch.floor_divide(seq_len + pad_amount - self.n_fft, self.hop_length).to(dtype=torch.long)

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        """Complex STFT with zero ('constant') padding and the stored symmetric window."""
        window = self.window.to(dtype=torch.float, device=x.device) if self.window is not None else None
        return torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            center=not self.exact_pad,
            window=window,
            return_complex=True,
            pad_mode="constant",
        )

    def forward(self, x: torch.Tensor, seq_len: torch.Tensor, linear_spec: bool = False):
        with torch.set_grad_enabled(self.use_grads and torch.is_grad_enabled()):
            return self._forward(x, seq_len, linear_spec)

    def _forward(self, x: torch.Tensor, seq_len: torch.Tensor, linear_spec: bool):
        in_len = seq_len
        seq_len = torch.where(in_len == 0, torch.zeros_like(in_len, dtype=torch.long), self.get_seq_len(in_len))
        if self.stft_pad_amount is not None:
            x = F.pad(x.unsqueeze(1), (self.stft_pad_amount, self.stft_pad_amount), "constant").squeeze(1)
        if self.training and self.dither > 0:
            x = x + self.dither * torch.randn_like(x)
        if self.preemph is not None:
            x = torch.cat((x[:, :1], x[:, 1:] - self.preemph * x[:, :-1]), dim=1)
            sample_idx = torch.arange(x.shape[1], device=x.device)[None, :]
            x = x * (sample_idx < in_len.to(x.device)[:, None]).to(x.dtype)
        with torch.amp.autocast(x.device.type, enabled=False):
            x = self.stft(x)
        guard = 0 if not self.use_grads else CONSTANT
        x = torch.view_as_real(x)
        power_ready = guard == 0 and self.mag_power == 2.0
        if power_ready:  # |X|^2 directly: no sqrt-then-square, no strided sum over (re, im)
            x = x[..., 0].square() + x[..., 1].square()
        else:
            x = torch.sqrt(x.pow(2).sum(-1) + guard)
        if self.training and self.nb_augmentation_prob > 0.0:
            for idx in range(x.shape[0]):
                if float(torch.rand(())) < self.nb_augmentation_prob:
                    x[idx, self._nb_max_fft_bin :, :] = 0.0
        if self.mag_power != 1.0 and not power_ready:
            x = x.pow(self.mag_power)
        if linear_spec:
            return x, seq_len
        with torch.amp.autocast(x.device.type, enabled=False):
            x = torch.matmul(self.fb.to(x.dtype), x)
        if self.log:
            guard = self.log_zero_guard_value_fn(x)
            if self.log_zero_guard_type == "add":
                x = torch.log(x + guard)
            else:
                x = torch.log(torch.clamp(x, min=guard))
        if self.frame_splicing > 1:
            x = splice_frames(x, self.frame_splicing)
        if self.normalize:
            x, _, _ = normalize_batch(x, seq_len, normalize_type=self.normalize)
        max_len = x.size(-1)
        valid = (torch.arange(max_len, device=x.device)[None, :] < seq_len.to(x.device)[:, None]).unsqueeze(1)
        x = x * valid.to(x.dtype)
        if self.pad_value != 0:
            x = x + (~valid).to(x.dtype) * self.pad_value
        if self.pad_to == "max":
            if int(self.max_length) > max_len:
                x = F.pad(x, (0, int(self.max_length) - max_len), value=self.pad_value)
        elif isinstance(self.pad_to, int) and self.pad_to > 0:
            remainder = max_len % self.pad_to
            if remainder != 0:
                x = F.pad(x, (0, self.pad_to - remainder), value=self.pad_value)
        return x, seq_len

    @property
    def filter_banks(self) -> torch.Tensor:
        return self.fb
