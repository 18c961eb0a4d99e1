"""Learned text-to-mel alignment (RAD-TTS style): soft attention from L2 distances, hardened by monotonic search.

`AlignmentEncoder(queries=mel (B, n_mels, T_mel), keys=text (B, C, T_text), mask, attn_prior)` returns
`(attn_soft (B, 1, T_mel, T_text), attn_logprob (B, 1, T_mel, T_text))`.
"""

import numpy as np
import torch
from torch import nn

from nemo.collections.tts.modules.layers import ConvNorm


class AlignmentEncoder(nn.Module):
    def __init__(self, n_mel_channels: int = 80, n_text_channels: int = 512, n_att_channels: int = 80,
                 temperature: float = 0.0005):
        super().__init__()
        self.temperature = temperature
        self.softmax = nn.Softmax(dim=3)
        self.log_softmax = nn.LogSoftmax(dim=3)
        self.key_proj = nn.Sequential(
            ConvNorm(n_text_channels, n_text_channels * 2, kernel_size=3, bias=True, w_init_gain="relu"),
            nn.ReLU(),
            ConvNorm(n_text_channels * 2, n_att_channels, kernel_size=1, bias=True),
        )
        self.query_proj = nn.Sequential(
            ConvNorm(n_mel_channels, n_mel_channels * 2, kernel_size=3, bias=True, w_init_gain="relu"),
            nn.ReLU(),
            ConvNorm(n_mel_channels * 2, n_mel_channels, kernel_size=1, bias=True),
            nn.ReLU(),
            ConvNorm(n_mel_channels, n_att_channels, kernel_size=1, bias=True),
        )

    def forward(self, queries, keys, mask=None, attn_prior=None):
        keys_enc = self.key_proj(keys)  # (B, A, T_text)
        queries_enc = self.query_proj(queries)  # (B, A, T_mel)
        dist = (queries_enc[:, :, :, None] - keys_enc[:, :, None, :]) ** 2  # (B, A, T_mel, T_text)
        attn = -self.temperature * dist.sum(1, keepdim=True)
        if attn_prior is not None:
            attn = self.log_softmax(attn) + torch.log(attn_prior[:, None] + 1e-8)
        attn_logprob = attn.clone()
        if mask is not None:  # mask: (B, T_text, 1), True on padding
            attn = attn.masked_fill(mask.permute(0, 2, 1).unsqueeze(2), -float("inf"))
        return self.softmax(attn), attn_logprob


def mas_width1(log_attn: np.ndarray) -> np.ndarray:
    """Monotonic alignment search on one (T_mel, T_text) log-attention map: each frame -> one token, in order,
    every token used at least once (needs T_mel >= T_text). Returns a 0/1 matrix of the same shape."""
    T_mel, T_text = log_attn.shape
    neg = -np.inf
    score = np.full((T_mel, T_text), neg)
    from_prev = np.zeros((T_mel, T_text), dtype=bool)
    score[0, 0] = log_attn[0, 0]
    for i in range(1, T_mel):
        stay = score[i - 1]
        move = np.concatenate(([neg], score[i - 1, :-1]))
        from_prev[i] = move > stay
        score[i] = np.maximum(stay, move) + log_attn[i]
    out = np.zeros((T_mel, T_text), dtype=np.float32)
    j = T_text - 1
    for i in range(T_mel - 1, -1, -1):
        out[i, j] = 1
        if i > 0 and from_prev[i, j]:
            j -= 1
    return out


def binarize_attention(attn: torch.Tensor, in_lens: torch.Tensor, out_lens: torch.Tensor) -> torch.Tensor:
    """Hard monotonic alignment of a soft attention (B, 1, T_mel, T_text), per item within its lengths."""
    with torch.no_grad():
        log_attn = torch.log(attn.detach().float().clamp_min(1e-12)).cpu().numpy()
        hard = np.zeros_like(log_attn)
        for b in range(attn.size(0)):
            t_mel, t_text = int(out_lens[b]), int(in_lens[b])
            if t_mel >= t_text > 0:
                hard[b, 0, :t_mel, :t_text] = mas_width1(log_attn[b, 0, :t_mel, :t_text])
            elif t_text > 0 and t_mel > 0:  # more tokens than frames: best token per frame
                idx = log_attn[b, 0, :t_mel, :t_text].argmax(1)
                hard[b, 0, np.arange(t_mel), idx] = 1
        return torch.from_numpy(hard).to(attn.device, attn.dtype)
