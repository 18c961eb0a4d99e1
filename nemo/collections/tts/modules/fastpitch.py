"""FastPitch (spec §C5): text encoder, duration and pitch predictors, length regulation, mel decoder.

With an aligner, durations come from a learned alignment (no external aligner needed).
`FastPitchModule.forward` returns the 12-tuple
`(spect, dec_lens, durs_predicted, log_durs_predicted, pitch_predicted, attn_soft, attn_logprob,
attn_hard, attn_hard_dur, pitch, energy_pred, energy_tgt)`; `infer` returns `(spect, dec_lens, durs, pitch)`.
"""

from typing import Optional

import torch
from torch import nn

from nemo.collections.tts.modules.aligner import binarize_attention


class ConvReLUNorm(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        out = torch.relu(self.conv(signal))
        out = self.norm(out.transpose(1, 2)).transpose(1, 2)
        return self.dropout(out)


class TemporalPredictor(nn.Module):
    """Per-token scalar predictor (log duration, pitch or energy): conv-relu-norm layers and a linear head."""

    def __init__(self, input_size: int, filter_size: int, kernel_size: int, dropout: float, n_layers: int = 2):
        super().__init__()
        self.layers = nn.Sequential(*[
            ConvReLUNorm(input_size if i == 0 else filter_size, filter_size, kernel_size, dropout)
            for i in range(n_layers)])
        self.fc = nn.Linear(filter_size, 1, bias=True)

    def forward(self, enc: torch.Tensor, enc_mask: torch.Tensor) -> torch.Tensor:
        out = self.layers((enc * enc_mask).transpose(1, 2)).transpose(1, 2)
        return (self.fc(out) * enc_mask).squeeze(-1)


def regulate_len(durations: torch.Tensor, enc_out: torch.Tensor, pace: float = 1.0, max_len: Optional[int] = None):
    """Repeat each token's features by its duration (export friendly: a 0/1 matrix product).

    durations (B, T_text) float, enc_out (B, T_text, C) -> (B, T_frames, C), lengths (B,)."""
    reps = torch.round(durations.float() / pace).long()
    dec_lens = reps.sum(dim=1)
    total = dec_lens.max() if max_len is None else torch.tensor(max_len, device=reps.device)
    ends = torch.cumsum(reps, dim=1)  # (B, T_text)
    starts = ends - reps
    frames = torch.arange(0, total, device=enc_out.device)[None, :, None]  # (1, T_frames, 1)
    mult = ((frames >= starts[:, None, :]) & (frames < ends[:, None, :])).to(enc_out.dtype)
    return torch.matmul(mult, enc_out), dec_lens


def average_features(pitch: torch.Tensor, durs: torch.Tensor) -> torch.Tensor:
    """Mean of non-zero frame values (B, T_frames) within each token's span -> (B, T_text)."""
    ends = torch.cumsum(durs.long(), dim=1)
    starts = ends - durs.long()
    frames = torch.arange(pitch.size(1), device=pitch.device)[None, None, :]
    span = ((frames >= starts[:, :, None]) & (frames < ends[:, :, None])).to(pitch.dtype)  # (B, T_text, T_frames)
    voiced = (pitch != 0).to(pitch.dtype)
    total = torch.matmul(span, (pitch * voiced).unsqueeze(2)).squeeze(2)
    count = torch.matmul(span, voiced.unsqueeze(2)).squeeze(2)
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))


class FastPitchModule(nn.Module):
    def __init__(
        self,
        encoder_module: nn.Module,
        decoder_module: nn.Module,
        duration_predictor: nn.Module,
        pitch_predictor: nn.Module,
        energy_predictor: Optional[nn.Module],
        aligner: Optional[nn.Module],
        speaker_encoder: Optional[nn.Module],
        n_speakers: int,
        symbols_embedding_dim: int,
        pitch_embedding_kernel_size: int,
        energy_embedding_kernel_size: int,
        n_mel_channels: int = 80,
        min_token_duration: int = 0,
        max_token_duration: int = 75,
        use_log_energy: bool = True,
    ):
        super().__init__()
        self.encoder = encoder_module
        self.decoder = decoder_module
        self.duration_predictor = duration_predictor
        self.pitch_predictor = pitch_predictor
        self.energy_predictor = energy_predictor
        self.aligner = aligner
        self.speaker_encoder = speaker_encoder
        self.learn_alignment = aligner is not None
        self.use_duration_predictor = True
        self.min_token_duration = min_token_duration
        self.max_token_duration = max_token_duration
        self.use_log_energy = use_log_energy
        self.speaker_emb = nn.Embedding(n_speakers, symbols_embedding_dim) if n_speakers > 1 else None
        self.pitch_emb = nn.Conv1d(1, symbols_embedding_dim, kernel_size=pitch_embedding_kernel_size,
                                   padding=(pitch_embedding_kernel_size - 1) // 2)
        if energy_predictor is not None:
            self.energy_emb = nn.Conv1d(1, symbols_embedding_dim, kernel_size=energy_embedding_kernel_size,
                                        padding=(energy_embedding_kernel_size - 1) // 2)
        else:
            self.energy_emb = None
        # NeMo's checkpoints carry these (always zero there); kept so state dicts match key for key
        self.register_buffer("pitch_mean", torch.zeros(1))
        self.register_buffer("pitch_std", torch.zeros(1))
        self.proj = nn.Linear(decoder_module.d_model, n_mel_channels, bias=True)

    def _speaker(self, speaker, batch: int):
        if self.speaker_emb is None or speaker is None:
            return 0
        if isinstance(speaker, int):
            speaker = torch.full((batch,), speaker, dtype=torch.long, device=self.pitch_emb.weight.device)
        return self.speaker_emb(speaker).unsqueeze(1)

    def _predict_durations(self, log_durs_predicted: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.exp(log_durs_predicted) - 1, self.min_token_duration, self.max_token_duration)

    def forward(self, *, text, durs=None, pitch=None, energy=None, speaker=None, pace=1.0, spec=None,
                attn_prior=None, mel_lens=None, input_lens=None):
        spk = self._speaker(speaker, text.size(0))
        enc_out, enc_mask = self.encoder(input=text, conditioning=spk)
        log_durs_predicted = self.duration_predictor(enc_out, enc_mask)
        durs_predicted = self._predict_durations(log_durs_predicted)
        pitch_predicted = self.pitch_predictor(enc_out, enc_mask)

        attn_soft = attn_logprob = attn_hard = attn_hard_dur = None
        if self.learn_alignment and spec is not None:
            text_emb = self.encoder.word_emb(text)
            attn_soft, attn_logprob = self.aligner(spec, text_emb.permute(0, 2, 1), enc_mask == 0, attn_prior)
            attn_hard = binarize_attention(attn_soft, input_lens, mel_lens)
            attn_hard_dur = attn_hard.sum(2)[:, 0, :]
            durs = attn_hard_dur

        if pitch is not None:
            if self.learn_alignment and pitch.shape[-1] != text.shape[-1]:
                pitch = average_features(pitch, durs)  # frame-level target -> per token
            pitch_emb = self.pitch_emb(pitch.unsqueeze(1))
        else:
            pitch_emb = self.pitch_emb(pitch_predicted.unsqueeze(1))
        enc_out = enc_out + pitch_emb.transpose(1, 2)

        energy_pred = energy_tgt = None
        if self.energy_predictor is not None:
            energy_pred = self.energy_predictor(enc_out, enc_mask)
            if energy is not None:
                energy_tgt = average_features(energy, durs) if energy.shape[-1] != text.shape[-1] else energy
                if self.use_log_energy:
                    energy_tgt = torch.log(1.0 + energy_tgt)
                energy_emb = self.energy_emb(energy_tgt.unsqueeze(1))
            else:
                energy_emb = self.energy_emb(energy_pred.unsqueeze(1))
            enc_out = enc_out + energy_emb.transpose(1, 2)

        max_len = spec.size(2) if (spec is not None and durs is not None) else None
        len_regulated, dec_lens = regulate_len(durs if durs is not None else durs_predicted, enc_out, pace, max_len)
        dec_out, _ = self.decoder(input=len_regulated, seq_lens=dec_lens)
        spect = self.proj(dec_out).transpose(1, 2)
        return (spect, dec_lens, durs_predicted, log_durs_predicted, pitch_predicted, attn_soft, attn_logprob,
                attn_hard, attn_hard_dur, pitch, energy_pred, energy_tgt)

    def infer(self, *, text, pitch=None, speaker=None, energy=None, pace=1.0, volume=None):
        """Text ids (B, T_text) -> (spect (B, n_mels, T), lengths (B,), durations (B, T_text), pitch (B, T_text))."""
        spk = self._speaker(speaker, text.size(0))
        enc_out, enc_mask = self.encoder(input=text, conditioning=spk)
        log_durs_predicted = self.duration_predictor(enc_out, enc_mask)
        durs_predicted = self._predict_durations(log_durs_predicted) * enc_mask.squeeze(2)
        pitch_predicted = self.pitch_predictor(enc_out, enc_mask) + (pitch if pitch is not None else 0)
        enc_out = enc_out + self.pitch_emb(pitch_predicted.unsqueeze(1)).transpose(1, 2)
        if self.energy_predictor is not None:
            energy_pred = energy if energy is not None else self.energy_predictor(enc_out, enc_mask)
            enc_out = enc_out + self.energy_emb(energy_pred.unsqueeze(1)).transpose(1, 2)
        len_regulated, dec_lens = regulate_len(durs_predicted, enc_out, pace)
        dec_out, _ = self.decoder(input=len_regulated, seq_lens=dec_lens)
        spect = self.proj(dec_out).transpose(1, 2)
        return spect, dec_lens, durs_predicted, pitch_predicted
