"""FastPitch's feed-forward transformer (FFT) blocks: self-attention + 1-D conv feed-forward, post-norm.

`FFTransformerEncoder` embeds token ids (padding id -> masked); `FFTransformerDecoder` takes (B, T, d) frames.
Both return `(out (B, T, d_model), mask (B, T, 1))`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class PositionalEmbedding(nn.Module):
    def __init__(self, demb: int):
        super().__init__()
        inv_freq = 1 / (10000 ** (torch.arange(0.0, demb, 2.0) / demb))
        self.register_buffer("inv_freq", inv_freq)  # saved, as in NeMo's checkpoints

    def forward(self, pos_seq: torch.Tensor) -> torch.Tensor:
        sinusoid = torch.outer(pos_seq, self.inv_freq)
        return torch.cat([sinusoid.sin(), sinusoid.cos()], dim=1)[None]  # (1, T, d)


class PositionwiseConvFF(nn.Module):
    def __init__(self, d_model: int, d_inner: int, kernel_size: int, dropout: float):
        super().__init__()
        self.CoreNet = nn.Sequential(
            nn.Conv1d(d_model, d_inner, kernel_size, 1, kernel_size // 2), nn.ReLU(),
            nn.Conv1d(d_inner, d_model, kernel_size, 1, kernel_size // 2), nn.Dropout(dropout),
        )
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        core = self.CoreNet(x.transpose(1, 2)).transpose(1, 2)
        return self.layer_norm(x + core)


class MultiHeadAttn(nn.Module):
    def __init__(self, n_head: int, d_model: int, d_head: int, dropout: float, dropatt: float = 0.1):
        super().__init__()
        self.n_head, self.d_head = n_head, d_head
        self.scale = 1 / math.sqrt(d_head)
        self.qkv_net = nn.Linear(d_model, 3 * n_head * d_head)
        self.drop = nn.Dropout(dropout)
        self.dropatt = nn.Dropout(dropatt)
        self.o_net = nn.Linear(n_head * d_head, d_model, bias=False)
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.qkv_net(x).view(B, T, 3, self.n_head, self.d_head).permute(2, 0, 3, 1, 4).unbind(0)
        score = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # (B, H, T, T)
        score = score.masked_fill(attn_mask[:, None, None, :], -1e4)  # finite: keeps fully padded rows NaN-free
        prob = self.dropatt(F.softmax(score, dim=-1))
        out = torch.matmul(prob, v).transpose(1, 2).reshape(B, T, self.n_head * self.d_head)
        return self.layer_norm(x + self.drop(self.o_net(out)))


class TransformerLayer(nn.Module):
    def __init__(self, n_head, d_model, d_head, d_inner, kernel_size, dropout, dropatt=0.1):
        super().__init__()
        self.dec_attn = MultiHeadAttn(n_head, d_model, d_head, dropout, dropatt)
        self.pos_ff = PositionwiseConvFF(d_model, d_inner, kernel_size, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.dec_attn(x, attn_mask=~mask.squeeze(2)) * mask
        return self.pos_ff(x) * mask


class FFTransformerDecoder(nn.Module):
    """Stack of FFT layers over frame (or token) features with positional encoding."""

    def __init__(self, n_layer, n_head, d_model, d_head, d_inner, kernel_size, dropout, dropatt, dropemb=0.0):
        super().__init__()
        self.d_model = d_model
        self.pos_emb = PositionalEmbedding(d_model)
        self.drop = nn.Dropout(dropemb)
        self.layers = nn.ModuleList(
            TransformerLayer(n_head, d_model, d_head, d_inner, kernel_size, dropout, dropatt) for _ in range(n_layer))

    def _run(self, x: torch.Tensor, mask: torch.Tensor, conditioning=0):
        pos = torch.arange(x.size(1), device=x.device, dtype=x.dtype)
        out = self.drop(x + self.pos_emb(pos) * mask + conditioning)
        for layer in self.layers:
            out = layer(out, mask)
        return out, mask

    def forward(self, input: torch.Tensor, seq_lens: torch.Tensor, conditioning=0):
        mask = (torch.arange(input.size(1), device=input.device)[None, :] < seq_lens[:, None]).unsqueeze(2)
        return self._run(input, mask, conditioning)


class FFTransformerEncoder(FFTransformerDecoder):
    """Token ids (B, T) -> embedding (`word_emb`) -> FFT stack; padding id marks padding."""

    def __init__(self, n_layer, n_head, d_model, d_head, d_inner, kernel_size, dropout, dropatt, dropemb=0.0,
                 n_embed=None, d_embed=None, padding_idx=0):
        super().__init__(n_layer, n_head, d_model, d_head, d_inner, kernel_size, dropout, dropatt, dropemb)
        self.padding_idx = padding_idx
        self.word_emb = nn.Embedding(n_embed, d_embed or d_model, padding_idx=padding_idx)

    def forward(self, input: torch.Tensor, conditioning=0):
        mask = (input != self.padding_idx).unsqueeze(2)
        return self._run(self.word_emb(input), mask, conditioning)
