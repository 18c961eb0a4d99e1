"""GriffinLimModel: the vocoder that needs no training (phase recovery by alternating STFT projections).

NeMo's GriffinLimModel takes **linear** magnitudes and is paired with a mel pseudo-inverse in a
`TwoStagesModel`. Here one model does both: with `n_mels` set, the input is a (log-)mel spectrogram
from the shared featurizer, turned back into linear magnitudes by a non-negative pseudo-inverse of the
same Slaney filterbank; with `n_mels: null` the input is a linear magnitude spectrogram as in NeMo.
"""

import math

import torch
from omegaconf import DictConfig

from nemo.collections.common.parts.preprocessing.mel import mel_filterbank
from nemo.collections.tts.models.base import Vocoder


class GriffinLimModel(Vocoder):
    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg
        self.n_iters = cfg.get("n_iters", 64)
        self.n_fft = cfg.get("n_fft", 1024)
        self.l_hop = cfg.get("l_hop", 256)
        self.win_length = cfg.get("win_length") or self.n_fft
        self.power = cfg.get("power", 1.0)
        self.momentum = cfg.get("momentum", 0.99)
        self.log_input = cfg.get("log", True)
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=False), persistent=False)
        self.register_buffer("mel_inverse", None, persistent=False)
        if cfg.get("n_mels"):
            fb = torch.tensor(mel_filterbank(cfg.sample_rate, self.n_fft, cfg.n_mels, cfg.get("lowfreq", 0),
                                             cfg.get("highfreq")))
            self.register_buffer("mel_inverse", torch.linalg.pinv(fb), persistent=False)

    def setup_training_data(self, cfg):
        """Nothing to train."""

    def setup_validation_data(self, cfg):
        """Nothing to validate."""

    def mel_to_linear(self, spec: torch.Tensor) -> torch.Tensor:
        mel = torch.exp(spec) if self.log_input else spec
        return torch.clamp(torch.matmul(self.mel_inverse, mel), min=1e-5)

    def _stft(self, x):
        return torch.stft(x, self.n_fft, self.l_hop, self.win_length, self.window, center=True, return_complex=True)

    def _istft(self, x, length):
        return torch.istft(x, self.n_fft, self.l_hop, self.win_length, self.window, center=True, length=length)

    def convert_spectrogram_to_audio(self, spec: torch.Tensor, **kwargs) -> torch.Tensor:
        """(B, n_mels or n_fft/2+1, T) -> audio (B, (T - 1) * hop), deterministic (fixed phase init)."""
        with torch.no_grad():
            mag = self.mel_to_linear(spec.float()) if self.mel_inverse is not None else spec.float()
            mag = mag ** self.power
            length = (mag.size(-1) - 1) * self.l_hop
            gen = torch.Generator(device="cpu").manual_seed(0)
            angles = torch.exp(2j * math.pi * torch.rand(mag.shape, generator=gen)).to(mag.device)
            prev = torch.zeros_like(angles)
            for _ in range(self.n_iters):
                audio = self._istft(mag * angles, length)
                rebuilt = self._stft(audio)
                angles = rebuilt - (self.momentum / (1 + self.momentum)) * prev
                angles = angles / angles.abs().clamp_min(1e-16)
                prev = rebuilt
            return self._istft(mag * angles, length)
