"""Conformer self-attention (absolute, Transformer-XL relative, sliding-window relative) and positional tables.

Parameter names and shapes follow NeMo's `parts/submodules/multi_head_attention.py`. Attention runs through
`torch.nn.functional.scaled_dot_product_attention` with an additive mask: masked scores are -10000 as in NeMo,
so every row with at least one visible key has the same probabilities, and fully masked (padding) rows give
zero context, exactly as NeMo's explicit softmax does.
"""

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nemo.collections.asr.parts.submodules.cpu_linear import linear as _linear

__all__ = [
    "MultiHeadAttention",
    "RelPositionMultiHeadAttention",
    "RelPositionMultiHeadAttentionLongformer",
    "PositionalEncoding",
    "RelPositionalEncoding",
    "LocalAttRelPositionalEncoding",
]

INF_VAL = 10000.0


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()


def _refuse_cache(cache: Optional[torch.Tensor]) -> None:
    if cache is not None:
        raise ValueError("cache-aware streaming (cache_last_channel) is not supported by this implementation")


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor],
           bias: Optional[torch.Tensor] = None, dropout_p: float = 0.0,
           pad_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_k) + bias, masked) v for (B, H, T, d_k) inputs.

    `mask` is either NeMo's boolean (B, T1, T2), True where a key is hidden, or an additive float mask
    broadcastable to (B, H, T1, T2) (0 or -10000, see `additive_mask`); `bias` (B, H, T1, T2) is an additive,
    already scaled score term. Query rows with every key hidden (given by `pad_mask` (B, T1) with a float mask,
    found from a boolean one) return zeros.
    """
    rows = pad_mask
    if mask is None:
        attn_mask = bias.contiguous() if bias is not None else None
    elif mask.dtype == torch.bool:
        m = mask.unsqueeze(1)
        base = bias if bias is not None else torch.zeros(m.shape, dtype=q.dtype, device=q.device)
        attn_mask = base.masked_fill(m, -INF_VAL)
        rows = mask.all(dim=-1)
    else:
        attn_mask = mask if bias is None else bias + mask
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    if rows is not None:
        out = out * (~rows)[:, None, :, None].to(out.dtype)
    return out


def additive_mask(att_mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """NeMo's boolean (B, T, T) attention mask as an additive (B, 1, T, T) one: 0 visible, -10000 hidden."""
    if att_mask is None:
        return None
    return att_mask.unsqueeze(1).to(dtype) * -INF_VAL


class MultiHeadAttention(nn.Module):
    """Multi-head attention of the Transformer (used with absolute positional encodings)."""

    def __init__(self, n_head: int, n_feat: int, dropout_rate: float, max_cache_len: int = 0, use_bias: bool = True,
                 use_pytorch_sdpa: bool = False, use_pytorch_sdpa_backends=None):
        super().__init__()
        if n_feat % n_head:
            raise ValueError(f"n_feat ({n_feat}) must be divisible by n_head ({n_head})")
        # Attention always runs through torch's SDPA; the NeMo flags are kept for config round trips.
        self.use_pytorch_sdpa = use_pytorch_sdpa
        self.use_pytorch_sdpa_backends = use_pytorch_sdpa_backends
        self.cache_drop_size = None
        self.use_bias = use_bias
        self.dropout_rate = dropout_rate
        self.d_k = n_feat // n_head
        self.s_d_k = math.sqrt(self.d_k)
        self.h = n_head
        self.linear_q = nn.Linear(n_feat, n_feat, bias=use_bias)
        self.linear_k = nn.Linear(n_feat, n_feat, bias=use_bias)
        self.linear_v = nn.Linear(n_feat, n_feat, bias=use_bias)
        self.linear_out = nn.Linear(n_feat, n_feat, bias=use_bias)
        self.dropout = nn.Dropout(p=dropout_rate)
        self._max_cache_len = max_cache_len

    def _heads(self, x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
        """(B, T, D) -> (B, H, T, d_k)."""
        return _linear(x, linear.weight, linear.bias).view(x.size(0), -1, self.h, self.d_k).transpose(1, 2)

    def forward_qkv(self, query, key, value):
        """Project and split into heads: three (B, H, T, d_k) tensors."""
        return self._heads(query, self.linear_q), self._heads(key, self.linear_k), self._heads(value, self.linear_v)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, T, d_k) -> linear_out over (B, T, D)."""
        x = x.transpose(1, 2).reshape(x.size(0), -1, self.h * self.d_k)
        return _linear(x, self.linear_out.weight, self.linear_out.bias)

    @property
    def _p_drop(self) -> float:
        return self.dropout_rate if self.training else 0.0

    def forward(self, query, key, value, mask, pos_emb=None, cache=None, pad_mask=None):
        """(B, T, D) query/key/value, mask (B, T1, T2) True = hidden (or additive) -> (B, T1, D)."""
        _refuse_cache(cache)
        q, k, v = self.forward_qkv(query, key, value)
        return self._merge(attend(q, k, v, mask, dropout_p=self._p_drop, pad_mask=pad_mask))


class RelPositionMultiHeadAttention(MultiHeadAttention):
    """Transformer-XL attention with relative positions (`linear_pos`, `pos_bias_u`, `pos_bias_v`)."""

    def __init__(self, n_head: int, n_feat: int, dropout_rate: float, pos_bias_u: Optional[nn.Parameter],
                 pos_bias_v: Optional[nn.Parameter], max_cache_len: int = 0, use_bias: bool = True,
                 use_pytorch_sdpa: bool = False, use_pytorch_sdpa_backends=None):
        super().__init__(n_head, n_feat, dropout_rate, max_cache_len=max_cache_len, use_bias=use_bias,
                         use_pytorch_sdpa=use_pytorch_sdpa, use_pytorch_sdpa_backends=use_pytorch_sdpa_backends)
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        if pos_bias_u is None or pos_bias_v is None:
            self.pos_bias_u = nn.Parameter(torch.zeros(self.h, self.d_k))
            self.pos_bias_v = nn.Parameter(torch.zeros(self.h, self.d_k))
        else:
            self.pos_bias_u = pos_bias_u
            self.pos_bias_v = pos_bias_v

    def rel_shift(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, T1, 2*T1-1) scores against positions T1-1..-(T1-1) -> entry [i, j] = score of position i-j."""
        b, h, qlen, pos_len = x.size()
        if _exporting() or x.stride(-1) != 1:
            x = F.pad(x, (1, 0)).view(b, h, -1, qlen)
            return x[:, :, 1:].reshape(b, h, qlen, pos_len)
        s0, s1, s2, s3 = x.stride()
        return x.as_strided((b, h, qlen, pos_len - qlen + 1), (s0, s1, s2 - s3, s3),
                            x.storage_offset() + (qlen - 1) * s3)

    def _pos_heads(self, pos_emb: torch.Tensor) -> torch.Tensor:
        p = _linear(pos_emb, self.linear_pos.weight)
        return p.view(pos_emb.size(0), -1, self.h, self.d_k).transpose(1, 2)

    # Longer inputs run in blocks of this many queries: the (T, 2T-1) position scores of a 10-minute input would
    # otherwise take gigabytes (same numbers either way).
    _QUERY_BLOCK = 1024

    def forward(self, query, key, value, mask, pos_emb, cache=None, pad_mask=None):
        """As MultiHeadAttention, plus `pos_emb` (1, 2*T-1, D) from RelPositionalEncoding."""
        _refuse_cache(cache)
        q, k, v = self.forward_qkv(query, key, value)
        p = self._pos_heads(pos_emb).transpose(-2, -1)
        q_u = q + self.pos_bias_u.unsqueeze(1)
        q_v = (q + self.pos_bias_v.unsqueeze(1)) * (1.0 / self.s_d_k)  # scaled here: (B, H, T, d_k) is small
        t = q.size(2)
        if t <= self._QUERY_BLOCK or _exporting() or mask is not None and mask.dtype == torch.bool:
            bd = self.rel_shift(torch.matmul(q_v, p))[..., : k.size(-2)]
            return self._merge(attend(q_u, k, v, mask, bias=bd, dropout_p=self._p_drop, pad_mask=pad_mask))
        outs = []
        for s in range(0, t, self._QUERY_BLOCK):
            e = min(t, s + self._QUERY_BLOCK)
            bd = torch.matmul(q_v[:, :, s:e], p)  # (B, H, e-s, 2T-1): rows s..e-1 of the full scores
            s0, s1, s2, s3 = bd.stride()
            bd = bd.as_strided((bd.size(0), bd.size(1), e - s, t), (s0, s1, s2 - s3, s3),
                               bd.storage_offset() + (t - 1 - s) * s3)
            blk_mask = None if mask is None or mask.size(-2) == 1 else mask[..., s:e, :]
            blk_mask = mask if blk_mask is None else blk_mask
            blk_pad = None if pad_mask is None else pad_mask[:, s:e]
            outs.append(attend(q_u[:, :, s:e], k, v, blk_mask, bias=bd, dropout_p=self._p_drop, pad_mask=blk_pad))
        return self._merge(torch.cat(outs, dim=2))


class RelPositionMultiHeadAttentionLongformer(RelPositionMultiHeadAttention):
    """Sliding-window relative attention: each frame sees `att_context_size[0]` frames back and `[1]` ahead.

    Runs block by block, so memory grows linearly with the length. Positional terms are placed in the window
    the way NeMo 3.0.0 places them (for unequal left/right contexts NeMo shifts them; this does the same).
    Global tokens are not supported.
    """

    _BLOCK = 128

    def __init__(self, n_head: int, n_feat: int, dropout_rate: float, pos_bias_u, pos_bias_v,
                 att_context_size: List[int], max_cache_len: int = 0, global_tokens: int = 0,
                 global_tokens_spacing: int = 1, global_attn_separate: bool = False, use_bias: bool = True,
                 use_pytorch_sdpa: bool = False, use_pytorch_sdpa_backends=None):
        super().__init__(n_head, n_feat, dropout_rate, pos_bias_u, pos_bias_v, max_cache_len=max_cache_len,
                         use_bias=use_bias, use_pytorch_sdpa=use_pytorch_sdpa,
                         use_pytorch_sdpa_backends=use_pytorch_sdpa_backends)
        if global_tokens > 0 or global_attn_separate:
            raise ValueError("rel_pos_local_attn with global tokens (global_tokens > 0 or global_attn_separate) "
                             "is not supported by this implementation")
        left, right = int(att_context_size[0]), int(att_context_size[1])
        if left < 0 or right < 0 or max(left, right) <= 0:
            raise ValueError(f"When using local attention, context size must be set > 0 on each side "
                             f"(got att_context_size={list(att_context_size)})")
        self.att_context_size = [left, right]
        self.global_tokens = global_tokens
        self.global_tokens_spacing = global_tokens_spacing
        self.global_attn_separate = global_attn_separate

    def _pos_column(self, device) -> torch.Tensor:
        """For offsets d = j - i in [-left, right]: which positional column NeMo adds (-1: none)."""
        left, right = self.att_context_size
        w = max(left, right)
        cols = []
        for d in range(-left, right + 1):
            m = d + w
            if m < left:
                cols.append(m)
            elif m >= 2 * w - right:
                cols.append(left + m - (2 * w - right))
            else:
                cols.append(-1)
        return torch.tensor(cols, dtype=torch.long, device=device)

    def forward(self, query, key, value, pad_mask, pos_emb, cache=None):
        """(B, T, D) inputs, pad_mask (B, T) True = padding, pos_emb (1, left+right+1, D) -> (B, T, D)."""
        _refuse_cache(cache)
        left, right = self.att_context_size
        q, k, v = self.forward_qkv(query, key, value)
        b, h, t, _ = q.shape
        p = self._pos_heads(pos_emb)
        q_u = q + self.pos_bias_u.unsqueeze(1)
        q_v = (q + self.pos_bias_v.unsqueeze(1)) * (1.0 / self.s_d_k)
        pos_scores = torch.matmul(q_v, p.transpose(-2, -1))  # (B, H, T, L+R+1), scaled
        column = self._pos_column(q.device)
        if pad_mask is None:
            pad_mask = torch.zeros(b, t, dtype=torch.bool, device=q.device)
        block = max(self._BLOCK, left + right)
        outs = []
        for s in range(0, t, block):
            e = min(t, s + block)
            ks, ke = max(0, s - left), min(t, e + right)
            offset = torch.arange(ks, ke, device=q.device)[None, :] - torch.arange(s, e, device=q.device)[:, None]
            in_window = (offset >= -left) & (offset <= right)
            col = column[(offset + left).clamp(0, left + right)]
            has_pos = in_window & (col >= 0)
            idx = col.clamp(min=0).expand(b, h, -1, -1)
            bias = torch.gather(pos_scores[:, :, s:e], 3, idx) * has_pos
            hidden = ~in_window[None] | pad_mask[:, None, ks:ke]
            hidden = hidden | pad_mask[:, s:e, None]
            out = attend(q_u[:, :, s:e], k[:, :, ks:ke], v[:, :, ks:ke], hidden, bias=bias, dropout_p=self._p_drop)
            outs.append(out)
        return self._merge(torch.cat(outs, dim=2) if len(outs) > 1 else outs[0])


class PositionalEncoding(nn.Module):
    """Sinusoidal absolute positions added to the (optionally sqrt(d_model)-scaled) input."""

    def __init__(self, d_model: int, dropout_rate: float, max_len: int = 5000, xscale: Optional[float] = None,
                 dropout_rate_emb: float = 0.0):
        super().__init__()
        self.d_model = d_model
        self.xscale = xscale
        self.dropout = nn.Dropout(p=dropout_rate)
        self.max_len = max_len
        self.dropout_emb = nn.Dropout(dropout_rate_emb) if dropout_rate_emb > 0 else None

    def create_pe(self, positions: torch.Tensor, dtype: torch.dtype) -> None:
        """Table (1, len(positions), d_model): sin on even columns, cos on odd (a non-persistent buffer)."""
        pe = torch.zeros(positions.size(0), self.d_model, device=positions.device)
        div_term = torch.exp(torch.arange(0, self.d_model, 2, dtype=torch.float32, device=positions.device)
                             * -(math.log(INF_VAL) / self.d_model))
        pe[:, 0::2] = torch.sin(positions * div_term)
        pe[:, 1::2] = torch.cos(positions * div_term)
        pe = pe.unsqueeze(0).to(dtype)
        if hasattr(self, "pe"):
            self.pe = pe
        else:
            self.register_buffer("pe", pe, persistent=False)

    def extend_pe(self, length: int, device, dtype) -> None:
        """Make the table cover `length` frames (never shrinks)."""
        if hasattr(self, "pe") and self.pe.size(1) >= length:
            return
        positions = torch.arange(0, length, dtype=torch.float32, device=device).unsqueeze(1)
        self.create_pe(positions, dtype)

    def forward(self, x: torch.Tensor, cache_len: int = 0):
        """(B, T, D) -> (dropout(x * xscale + pe), pe[:, :T])."""
        if self.xscale:
            x = x * self.xscale
        pos_emb = self.pe[:, : x.size(1) + cache_len]
        if self.dropout_emb is not None:
            pos_emb = self.dropout_emb(pos_emb)
        return self.dropout(x + pos_emb), pos_emb


class RelPositionalEncoding(PositionalEncoding):
    """Relative positions T-1 .. -(T-1) for Transformer-XL attention; the input is only scaled."""

    def extend_pe(self, length: int, device, dtype) -> None:
        """Make the table cover inputs of `length` frames (2*length-1 positions; never shrinks)."""
        if hasattr(self, "pe") and self.pe.size(1) >= 2 * length - 1:
            return
        positions = torch.arange(length - 1, -length, -1, dtype=torch.float32, device=device).unsqueeze(1)
        self.create_pe(positions, dtype)

    def forward(self, x: torch.Tensor, cache_len: int = 0):
        """(B, T, D) -> (dropout(x * xscale), table rows for positions T-1 .. -(T-1))."""
        if self.xscale:
            x = x * self.xscale
        input_len = x.size(1) + cache_len
        center = self.pe.size(1) // 2 + 1
        pos_emb = self.pe[:, center - input_len: center + input_len - 1]
        if self.dropout_emb is not None:
            pos_emb = self.dropout_emb(pos_emb)
        return self.dropout(x), pos_emb


class LocalAttRelPositionalEncoding(PositionalEncoding):
    """Relative positions left .. -right for sliding-window attention (fixed size, made once)."""

    def __init__(self, att_context_size: List[int], **kwargs):
        super().__init__(**kwargs)
        self.left_context = int(att_context_size[0])
        self.right_context = int(att_context_size[1])

    def extend_pe(self, length: int, device, dtype) -> None:
        """The window's table does not depend on the input length: built on the first call only."""
        if hasattr(self, "pe"):
            return
        positions = torch.arange(self.left_context, -self.right_context - 1, -1, dtype=torch.float32,
                                 device=device).unsqueeze(1)
        self.create_pe(positions, dtype)

    def forward(self, x: torch.Tensor, cache_len: int = 0):
        if self.xscale:
            x = x * self.xscale
        pos_emb = self.pe[:, : self.left_context + self.right_context + 1]
        if self.dropout_emb is not None:
            pos_emb = self.dropout_emb(pos_emb)
        return self.dropout(x), pos_emb
