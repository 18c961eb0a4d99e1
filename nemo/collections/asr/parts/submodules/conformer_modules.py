"""Conformer block: macaron feed-forwards (x0.5), self-attention, convolution module, final LayerNorm.

Keys follow NeMo's `parts/submodules/conformer_modules.py`. Everything runs time-major (B, T, D): the 1x1
convolutions are applied as matrix products and the depthwise convolution runs on a channels-last view, so the
block never copies activations between layouts (same values as the channel-major formulation).
"""

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nemo.collections.asr.parts.submodules.causal_convs import CausalConv1D
from nemo.collections.asr.parts.submodules.cpu_linear import linear
from nemo.collections.asr.parts.submodules.multi_head_attention import (
    MultiHeadAttention,
    RelPositionMultiHeadAttention,
    RelPositionMultiHeadAttentionLongformer,
)

__all__ = ["ConformerConvolution", "ConformerFeedForward", "ConformerLayer"]

_ATTENTION_MODELS = ("rel_pos", "rel_pos_local_attn", "abs_pos")


def _refuse_cache(cache) -> None:
    if cache is not None:
        raise ValueError("cache-aware streaming (cache_last_time/cache_last_channel) is not supported by this "
                         "implementation")


def make_self_attention(self_attention_model: str, n_heads: int, d_model: int, dropout_att: float, pos_bias_u,
                        pos_bias_v, att_context_size: List[int], use_bias: bool = True, global_tokens: int = 0,
                        global_tokens_spacing: int = 1, global_attn_separate: bool = False,
                        use_pytorch_sdpa: bool = False, use_pytorch_sdpa_backends=None) -> nn.Module:
    """The attention module for one of 'rel_pos', 'rel_pos_local_attn', 'abs_pos'."""
    common = dict(n_head=n_heads, n_feat=d_model, dropout_rate=dropout_att, max_cache_len=att_context_size[0],
                  use_bias=use_bias, use_pytorch_sdpa=use_pytorch_sdpa,
                  use_pytorch_sdpa_backends=use_pytorch_sdpa_backends)
    if self_attention_model == "rel_pos":
        return RelPositionMultiHeadAttention(pos_bias_u=pos_bias_u, pos_bias_v=pos_bias_v, **common)
    if self_attention_model == "rel_pos_local_attn":
        return RelPositionMultiHeadAttentionLongformer(
            pos_bias_u=pos_bias_u, pos_bias_v=pos_bias_v, att_context_size=att_context_size,
            global_tokens=global_tokens, global_tokens_spacing=global_tokens_spacing,
            global_attn_separate=global_attn_separate, **common)
    if self_attention_model == "abs_pos":
        return MultiHeadAttention(**common)
    raise ValueError(f"'{self_attention_model}' is not a valid value for 'self_attention_model', "
                     f"valid values are {list(_ATTENTION_MODELS)}")


class ConformerFeedForward(nn.Module):
    """linear1 -> Swish -> dropout -> linear2."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: Optional[nn.Module] = None,
                 use_bias: bool = True):
        super().__init__()
        self.d_model = d_model
        self.d_ff = d_ff
        self.use_bias = use_bias
        self.linear1 = nn.Linear(d_model, d_ff, bias=use_bias)
        self.activation = activation if activation is not None else nn.SiLU()
        self.dropout = nn.Dropout(p=dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=use_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if type(self.activation) is nn.SiLU:
            h = linear(x, self.linear1.weight, self.linear1.bias, silu=True)
        else:
            h = self.activation(self.linear1(x))
        return linear(self.dropout(h), self.linear2.weight, self.linear2.bias)

    def reset_parameters_ff(self) -> None:
        """NeMo's optional uniform init (bounds 1/sqrt(fan_in))."""
        with torch.no_grad():
            for layer, bound in ((self.linear1, self.d_model ** -0.5), (self.linear2, self.d_ff ** -0.5)):
                nn.init.uniform_(layer.weight, -bound, bound)
                if self.use_bias:
                    nn.init.uniform_(layer.bias, -bound, bound)


class ConformerConvolution(nn.Module):
    """pointwise_conv1 (d -> 2d) -> GLU -> depthwise_conv -> norm -> Swish -> pointwise_conv2, on (B, T, d)."""

    def __init__(self, d_model: int, kernel_size: int, norm_type: str = "batch_norm",
                 conv_context_size: Optional[List[int]] = None, pointwise_activation: str = "glu_",
                 use_bias: bool = True):
        super().__init__()
        if (kernel_size - 1) % 2:
            raise ValueError(f"conv_kernel_size must be odd, got {kernel_size}")
        if pointwise_activation != "glu_":
            raise ValueError(f"pointwise_activation={pointwise_activation!r} is not supported (only 'glu_')")
        self.d_model = d_model
        self.kernel_size = kernel_size
        self.norm_type = norm_type
        self.use_bias = use_bias
        self.pointwise_activation = pointwise_activation
        if conv_context_size is None:
            conv_context_size = (kernel_size - 1) // 2
        self.pointwise_conv1 = nn.Conv1d(d_model, d_model * 2, kernel_size=1, bias=use_bias)
        self.depthwise_conv = CausalConv1D(d_model, d_model, kernel_size=kernel_size, stride=1,
                                           padding=conv_context_size, groups=d_model, bias=use_bias)
        if norm_type == "batch_norm":
            self.batch_norm = nn.BatchNorm1d(d_model)
        elif norm_type == "instance_norm":
            self.batch_norm = nn.InstanceNorm1d(d_model)
        elif norm_type == "layer_norm":
            self.batch_norm = nn.LayerNorm(d_model)
        elif norm_type.startswith("group_norm") and norm_type[len("group_norm"):].isdigit():
            self.batch_norm = nn.GroupNorm(num_groups=int(norm_type[len("group_norm"):]), num_channels=d_model)
        else:
            raise ValueError(f"conv_norm_type={norm_type!r} is not valid; use batch_norm, layer_norm, "
                             f"instance_norm or group_norm<N>")
        self.activation = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(d_model, d_model, kernel_size=1, bias=use_bias)

    def _depthwise(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise conv of (B, T, d) as a channels-last 2-D conv; returns (B, T, d)."""
        conv = self.depthwise_conv
        x = x.transpose(1, 2)
        if conv._pad_outside:
            x = F.pad(x, (conv._left_padding, conv._right_padding)).transpose(1, 2).contiguous().transpose(1, 2)
            pad = 0
        else:
            pad = conv._left_padding
        out = F.conv2d(x.unsqueeze(2), conv.weight.unsqueeze(2), conv.bias, (1, 1), (0, pad), (1, conv.dilation[0]),
                       conv.groups)
        return out.squeeze(2).transpose(1, 2)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_type == "batch_norm":
            b, t, d = x.shape
            return self.batch_norm(x.reshape(b * t, d)).view(b, t, d)
        if self.norm_type == "layer_norm":
            return self.batch_norm(x)
        return self.batch_norm(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor, pad_mask: Optional[torch.Tensor] = None, cache=None) -> torch.Tensor:
        """(B, T, d), pad_mask (B, T) True = padding (zeroed before the depthwise conv) -> (B, T, d)."""
        _refuse_cache(cache)
        x = linear(x, self.pointwise_conv1.weight.squeeze(-1), self.pointwise_conv1.bias)
        x = F.glu(x, dim=-1)
        if pad_mask is not None:
            x = x.masked_fill(pad_mask.unsqueeze(-1), 0.0)
        x = self._depthwise(x.contiguous())
        x = self.activation(self._norm(x))
        return linear(x, self.pointwise_conv2.weight.squeeze(-1), self.pointwise_conv2.bias)

    def reset_parameters_conv(self) -> None:
        """NeMo's optional uniform init."""
        pw_max, dw_max = self.d_model ** -0.5, self.kernel_size ** -0.5
        with torch.no_grad():
            for layer, bound in ((self.pointwise_conv1, pw_max), (self.pointwise_conv2, pw_max),
                                 (self.depthwise_conv, dw_max)):
                nn.init.uniform_(layer.weight, -bound, bound)
                if self.use_bias:
                    nn.init.uniform_(layer.bias, -bound, bound)


class ConformerLayer(nn.Module):
    """x + FF1/2 -> + MHSA -> + Conv -> + FF2/2 -> LayerNorm, with dropout on every residual branch."""

    def __init__(self, d_model: int, d_ff: int, self_attention_model: str = "rel_pos", global_tokens: int = 0,
                 global_tokens_spacing: int = 1, global_attn_separate: bool = False, n_heads: int = 4,
                 conv_kernel_size: int = 31, conv_norm_type: str = "batch_norm",
                 conv_context_size: Optional[List[int]] = None, dropout: float = 0.1, dropout_att: float = 0.1,
                 pos_bias_u=None, pos_bias_v=None, att_context_size: Optional[List[int]] = None,
                 use_bias: bool = True, use_pytorch_sdpa: bool = False, use_pytorch_sdpa_backends=None):
        super().__init__()
        att_context_size = list(att_context_size) if att_context_size is not None else [-1, -1]
        self.use_pytorch_sdpa = use_pytorch_sdpa
        self.use_pytorch_sdpa_backends = use_pytorch_sdpa_backends or []
        self.self_attention_model = self_attention_model
        self.n_heads = n_heads
        self.fc_factor = 0.5
        self.norm_feed_forward1 = nn.LayerNorm(d_model)
        self.feed_forward1 = ConformerFeedForward(d_model=d_model, d_ff=d_ff, dropout=dropout, use_bias=use_bias)
        self.norm_conv = nn.LayerNorm(d_model)
        self.conv = ConformerConvolution(d_model=d_model, kernel_size=conv_kernel_size, norm_type=conv_norm_type,
                                         conv_context_size=conv_context_size, use_bias=use_bias)
        self.norm_self_att = nn.LayerNorm(d_model)
        self.self_attn = make_self_attention(
            self_attention_model, n_heads, d_model, dropout_att, pos_bias_u, pos_bias_v, att_context_size,
            use_bias=use_bias, global_tokens=global_tokens, global_tokens_spacing=global_tokens_spacing,
            global_attn_separate=global_attn_separate, use_pytorch_sdpa=use_pytorch_sdpa,
            use_pytorch_sdpa_backends=self.use_pytorch_sdpa_backends)
        self.norm_feed_forward2 = nn.LayerNorm(d_model)
        self.feed_forward2 = ConformerFeedForward(d_model=d_model, d_ff=d_ff, dropout=dropout, use_bias=use_bias)
        self.dropout = nn.Dropout(dropout)
        self.norm_out = nn.LayerNorm(d_model)

    def forward(self, x, att_mask=None, pos_emb=None, pad_mask=None, cache_last_channel=None, cache_last_time=None):
        """x (B, T, d); att_mask (B, T, T) and pad_mask (B, T) are True where hidden/padded (att_mask may also be
        additive, from `additive_mask`) -> (B, T, d)."""
        _refuse_cache(cache_last_channel)
        _refuse_cache(cache_last_time)
        residual = torch.add(x, self.dropout(self.feed_forward1(self.norm_feed_forward1(x))), alpha=self.fc_factor)
        x = self.norm_self_att(residual)
        if self.self_attention_model == "rel_pos":
            x = self.self_attn(query=x, key=x, value=x, mask=att_mask, pos_emb=pos_emb, pad_mask=pad_mask)
        elif self.self_attention_model == "rel_pos_local_attn":
            x = self.self_attn(query=x, key=x, value=x, pad_mask=pad_mask, pos_emb=pos_emb)
        else:
            x = self.self_attn(query=x, key=x, value=x, mask=att_mask, pad_mask=pad_mask)
        residual = residual + self.dropout(x)
        residual = residual + self.dropout(self.conv(self.norm_conv(residual), pad_mask=pad_mask))
        ff2 = self.dropout(self.feed_forward2(self.norm_feed_forward2(residual)))
        return self.norm_out(torch.add(residual, ff2, alpha=self.fc_factor))
