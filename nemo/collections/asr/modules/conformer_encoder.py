"""ConformerEncoder (Conformer and FastConformer), key for key with NVIDIA NeMo's `modules/conformer_encoder.py`.

Offline (full-utterance) inference and training. Cache-aware streaming arguments are refused with a clear
error (see docs/differences.md).
"""

import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from omegaconf import ListConfig
from torch import nn

from nemo.collections.asr.parts.submodules.conformer_modules import ConformerLayer, make_self_attention
from nemo.collections.asr.parts.submodules.multi_head_attention import (
    INF_VAL,
    LocalAttRelPositionalEncoding,
    PositionalEncoding,
    RelPositionalEncoding,
)
from nemo.collections.asr.parts.submodules.subsampling import (
    ConvSubsampling,
    StackingSubsampling,
    SubsamplingReductionModule,
)
from nemo.collections.asr.parts.utils.regularization_utils import compute_stochastic_depth_drop_probs
from nemo.core.classes.common import typecheck
from nemo.core.classes.exportable import Exportable
from nemo.core.classes.module import NeuralModule
from nemo.core.neural_types import (
    AcousticEncodedRepresentation,
    BoolType,
    ChannelType,
    LengthsType,
    NeuralType,
    SpectrogramType,
)

__all__ = ["ConformerEncoder", "ConformerChangeConfig"]

_STREAMING_ONLY = "cache-aware streaming is not supported by this implementation (offline inference and training only)"


def _plain(value):
    """OmegaConf lists (possibly nested) as Python lists."""
    if isinstance(value, (ListConfig, list, tuple)):
        return [_plain(v) for v in value]
    return value


class ConformerEncoder(NeuralModule, Exportable):
    """Conformer/FastConformer encoder: subsampling, positional encoding, `n_layers` ConformerLayers.

    (B, feat_in, T) features and lengths -> (B, feat_out, T / subsampling_factor) and output lengths (int64).
    """

    def __init__(
        self,
        feat_in: int,
        n_layers: int,
        d_model: int,
        feat_out: int = -1,
        causal_downsampling: bool = False,
        subsampling: str = "striding",
        subsampling_factor: int = 4,
        subsampling_conv_chunking_factor: int = 1,
        subsampling_conv_channels: int = -1,
        reduction: Optional[str] = None,
        reduction_position: Optional[int] = None,
        reduction_factor: int = 1,
        ff_expansion_factor: int = 4,
        self_attention_model: str = "rel_pos",
        n_heads: int = 4,
        att_context_size=None,
        att_context_probs=None,
        att_chunk_context_size=None,
        att_context_style: str = "regular",
        xscaling: bool = True,
        untie_biases: bool = True,
        pos_emb_max_len: int = 5000,
        conv_kernel_size: int = 31,
        conv_norm_type: str = "batch_norm",
        conv_context_size=None,
        conv_context_style: str = "regular",
        use_bias: bool = True,
        dropout: float = 0.1,
        dropout_pre_encoder: float = 0.1,
        dropout_emb: float = 0.1,
        dropout_att: float = 0.0,
        stochastic_depth_drop_prob: float = 0.0,
        stochastic_depth_mode: str = "linear",
        stochastic_depth_start_layer: int = 1,
        global_tokens: int = 0,
        global_tokens_spacing: int = 1,
        global_attn_separate: bool = False,
        use_pytorch_sdpa: bool = False,
        use_pytorch_sdpa_backends=None,
        sync_max_audio_length: bool = True,
    ):
        super().__init__()
        if att_context_style not in ("regular", "chunked_limited"):
            raise ValueError(f"att_context_style={att_context_style!r}: {_STREAMING_ONLY}; "
                             f"use 'regular' or 'chunked_limited'")
        if att_chunk_context_size is not None:
            raise ValueError(f"att_chunk_context_size: {_STREAMING_ONLY}")
        if conv_context_style != "regular":
            raise ValueError(f"conv_context_style={conv_context_style!r}: {_STREAMING_ONLY}; use 'regular'")
        if self_attention_model not in ("rel_pos", "rel_pos_local_attn", "abs_pos"):
            raise ValueError(f"Not valid self_attention_model: '{self_attention_model}'! "
                             f"Use 'rel_pos', 'rel_pos_local_attn' or 'abs_pos'.")
        self.d_model = d_model
        self.n_layers = n_layers
        self._feat_in = feat_in
        self.att_context_style = att_context_style
        self.subsampling_factor = subsampling_factor
        self.subsampling_conv_chunking_factor = subsampling_conv_chunking_factor
        self.self_attention_model = self_attention_model
        self.global_tokens = global_tokens
        self.global_attn_separate = global_attn_separate
        self.global_tokens_spacing = global_tokens_spacing
        self.use_pytorch_sdpa = use_pytorch_sdpa
        self.use_pytorch_sdpa_backends = list(use_pytorch_sdpa_backends or [])
        self.sync_max_audio_length = sync_max_audio_length
        self.conv_context_style = conv_context_style
        self.conv_kernel_size = conv_kernel_size
        self.att_chunk_context_size = None
        self._n_heads = n_heads
        self._dropout = dropout
        self._dropout_emb = dropout_emb
        self._dropout_att = dropout_att
        self._use_bias = use_bias
        self._untie_biases = untie_biases

        (self.att_context_size_all, self.att_context_size, self.att_context_probs,
         self.conv_context_size) = self._calc_context_sizes(att_context_size, att_context_probs, att_context_style,
                                                            conv_context_size, conv_kernel_size)
        self.xscale = math.sqrt(d_model) if xscaling else None

        if subsampling_conv_channels == -1:
            subsampling_conv_channels = d_model
        if subsampling and subsampling_factor > 1:
            if subsampling in ("stacking", "stacking_norm"):
                self.pre_encode = StackingSubsampling(subsampling_factor=subsampling_factor, feat_in=feat_in,
                                                      feat_out=d_model, norm=subsampling == "stacking_norm")
            else:
                self.pre_encode = ConvSubsampling(
                    subsampling=subsampling, subsampling_factor=subsampling_factor, feat_in=feat_in,
                    feat_out=d_model, conv_channels=subsampling_conv_channels,
                    subsampling_conv_chunking_factor=subsampling_conv_chunking_factor,
                    activation=nn.ReLU(True), is_causal=causal_downsampling)
        else:
            self.pre_encode = nn.Linear(feat_in, d_model)

        if reduction and reduction_factor > 1:
            if reduction_position is None or not -1 <= reduction_position < n_layers:
                raise ValueError(f"reduction_position must be in [-1, {n_layers}), got {reduction_position}")
            self.reduction_subsampling = SubsamplingReductionModule(reduction=reduction, d_model=d_model,
                                                                    reduction_factor=reduction_factor)
            self.reduction_position = reduction_position
        else:
            self.reduction_subsampling = None
            self.reduction_position = None

        if not untie_biases and self_attention_model == "rel_pos":
            d_head = d_model // n_heads
            pos_bias_u = nn.Parameter(torch.zeros(n_heads, d_head))
            pos_bias_v = nn.Parameter(torch.zeros(n_heads, d_head))
        else:
            pos_bias_u = pos_bias_v = None

        self.pos_emb_max_len = pos_emb_max_len
        self._dropout_pre_encoder = dropout_pre_encoder
        self.pos_enc = self._make_pos_enc(self_attention_model, self.att_context_size, dropout_pre_encoder)

        d_ff = d_model * ff_expansion_factor
        self.layers = nn.ModuleList([
            ConformerLayer(
                d_model=d_model, d_ff=d_ff, self_attention_model=self_attention_model, global_tokens=global_tokens,
                global_tokens_spacing=global_tokens_spacing, global_attn_separate=global_attn_separate,
                n_heads=n_heads, conv_kernel_size=conv_kernel_size, conv_norm_type=conv_norm_type,
                conv_context_size=self.conv_context_size, dropout=dropout, dropout_att=dropout_att,
                pos_bias_u=pos_bias_u, pos_bias_v=pos_bias_v, att_context_size=self.att_context_size,
                use_bias=use_bias, use_pytorch_sdpa=use_pytorch_sdpa,
                use_pytorch_sdpa_backends=self.use_pytorch_sdpa_backends)
            for _ in range(n_layers)
        ])

        if feat_out > 0 and feat_out != d_model:
            self.out_proj = nn.Linear(d_model, feat_out)
            self._feat_out = feat_out
        else:
            self.out_proj = None
            self._feat_out = d_model
        self.set_max_audio_length(self.pos_emb_max_len)
        self.use_pad_mask = True
        self.export_cache_support = False
        self.layer_drop_probs = compute_stochastic_depth_drop_probs(
            len(self.layers), stochastic_depth_drop_prob, stochastic_depth_mode, stochastic_depth_start_layer)

    # ------------------------------------------------------------------ construction helpers
    def _make_pos_enc(self, self_attention_model: str, att_context_size: List[int], dropout_rate: float):
        if self_attention_model == "rel_pos":
            return RelPositionalEncoding(d_model=self.d_model, dropout_rate=dropout_rate, max_len=self.pos_emb_max_len,
                                         xscale=self.xscale, dropout_rate_emb=self._dropout_emb)
        if self_attention_model == "rel_pos_local_attn":
            if max(att_context_size) <= 0:
                raise ValueError("When using local attention, context size must be set > 0")
            # NeMo gives the local-attention table the layers' dropout rate, not dropout_pre_encoder.
            return LocalAttRelPositionalEncoding(att_context_size=att_context_size, d_model=self.d_model,
                                                 dropout_rate=self._dropout, max_len=self.pos_emb_max_len,
                                                 xscale=self.xscale, dropout_rate_emb=self._dropout_emb)
        return PositionalEncoding(d_model=self.d_model, dropout_rate=dropout_rate, max_len=self.pos_emb_max_len,
                                  xscale=self.xscale)

    @staticmethod
    def _calc_context_sizes(att_context_size, att_context_probs, att_context_style, conv_context_size,
                            conv_kernel_size):
        """Normalise the attention context list(s), their sampling probabilities and the conv context."""
        if att_context_size:
            all_sizes = _plain(att_context_size)
            if isinstance(all_sizes[0], int):
                all_sizes = [all_sizes]
            for i, cs in enumerate(all_sizes):
                if len(cs) != 2:
                    raise ValueError(f"att_context_size[{i}] must be [left, right], got {cs}")
                if att_context_style == "chunked_limited":
                    if cs[0] > 0 and cs[0] % (cs[1] + 1) > 0:
                        raise ValueError(f"att_context_size[{i}][0] % (att_context_size[{i}][1] + 1) should be zero!")
                    if cs[1] < 0 and len(all_sizes) <= 1:
                        raise ValueError(f"Right context (att_context_size[{i}][1]) can not be unlimited for "
                                         f"chunked_limited style!")
        else:
            all_sizes = [[-1, -1]]
        if att_context_probs:
            att_context_probs = list(_plain(att_context_probs))
            if len(att_context_probs) != len(all_sizes):
                raise ValueError("The size of the att_context_probs should be the same as att_context_size.")
            if abs(sum(att_context_probs) - 1.0) > 1e-6:
                raise ValueError("The sum of numbers in att_context_probs should be equal to one to be a distribution.")
        else:
            att_context_probs = [1.0 / len(all_sizes)] * len(all_sizes)
        conv_context_size = _plain(conv_context_size)
        if conv_context_size is None:
            conv_context_size = [(conv_kernel_size - 1) // 2, (conv_kernel_size - 1) // 2]
        elif conv_context_size == "causal":
            conv_context_size = [conv_kernel_size - 1, 0]
        elif not isinstance(conv_context_size, list) or len(conv_context_size) != 2:
            raise ValueError("Invalid conv_context_size! It should be the string 'causal' or a list of two integers.")
        elif conv_context_size[0] + conv_context_size[1] + 1 != conv_kernel_size:
            raise ValueError(f"Invalid conv_context_size: {conv_context_size}! left + right + 1 must equal "
                             f"conv_kernel_size ({conv_kernel_size}).")
        return all_sizes, all_sizes[0], att_context_probs, conv_context_size

    # ------------------------------------------------------------------ types and export
    @property
    def input_types(self):
        return OrderedDict({
            "audio_signal": NeuralType(("B", "D", "T"), SpectrogramType()),
            "length": NeuralType(tuple("B"), LengthsType()),
            "cache_last_channel": NeuralType(("D", "B", "T", "D"), ChannelType(), optional=True),
            "cache_last_time": NeuralType(("D", "B", "D", "T"), ChannelType(), optional=True),
            "cache_last_channel_len": NeuralType(tuple("B"), LengthsType(), optional=True),
            "bypass_pre_encode": NeuralType(tuple(), BoolType(), optional=True),
        })

    @property
    def output_types(self):
        return OrderedDict({
            "outputs": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation()),
            "encoded_lengths": NeuralType(tuple("B"), LengthsType()),
        })

    @property
    def input_types_for_export(self):
        return OrderedDict({
            "audio_signal": NeuralType(("B", "D", "T"), SpectrogramType()),
            "length": NeuralType(tuple("B"), LengthsType()),
        })

    @property
    def output_types_for_export(self):
        return self.output_types

    def input_example(self, max_batch: int = 1, max_dim: int = 256):
        """Random (max_batch, feat_in, max_dim) features with lengths in [max_dim/4, max_dim), for export."""
        device = next(self.parameters()).device
        signal = torch.randn(max_batch, self._feat_in, max_dim, device=device)
        length = torch.randint(max_dim // 4, max_dim, (max_batch,), device=device, dtype=torch.int64)
        return signal, length

    def forward_for_export(self, audio_signal, length):
        """Offline forward for ONNX/TorchScript export (no caches)."""
        return self.forward_internal(audio_signal, length)

    # ------------------------------------------------------------------ positional table
    def set_max_audio_length(self, max_audio_length: int) -> None:
        """Make the positional table cover inputs of `max_audio_length` frames."""
        self.max_audio_length = max_audio_length
        p = next(self.parameters())
        self.pos_enc.extend_pe(max_audio_length, p.device, p.dtype)

    def update_max_seq_length(self, seq_length: int, device) -> None:
        """Extend the table for a longer input (the largest length over all ranks when distributed)."""
        if self.sync_max_audio_length and torch.distributed.is_available() and torch.distributed.is_initialized():
            global_max = torch.tensor([seq_length], dtype=torch.float32, device=device)
            torch.distributed.all_reduce(global_max, op=torch.distributed.ReduceOp.MAX)
            seq_length = int(global_max.int().item())
        if seq_length > self.max_audio_length:
            self.set_max_audio_length(seq_length)

    def enable_pad_mask(self, on: bool = True) -> bool:
        """Set whether padding is masked; returns the previous setting."""
        previous, self.use_pad_mask = self.use_pad_mask, on
        return previous

    # ------------------------------------------------------------------ forward
    @typecheck()
    def forward(self, audio_signal, length=None, cache_last_channel=None, cache_last_time=None,
                cache_last_channel_len=None, bypass_pre_encode=False):
        """(B, feat_in, T) features (or (B, T, d_model) with bypass_pre_encode) -> ((B, feat_out, T'), (B,))."""
        if cache_last_channel is not None or cache_last_time is not None or cache_last_channel_len is not None:
            raise ValueError(f"ConformerEncoder.forward got streaming caches: {_STREAMING_ONLY}")
        if not bypass_pre_encode and audio_signal.shape[-2] != self._feat_in:
            raise ValueError(f"If bypass_pre_encode is False, audio_signal should have shape "
                             f"(batch, {self._feat_in}, n_frame) but got last dimension {audio_signal.shape[-2]}.")
        if bypass_pre_encode and audio_signal.shape[-1] != self.d_model:
            raise ValueError(f"If bypass_pre_encode is True, audio_signal should have shape "
                             f"(batch, n_frame, {self.d_model}) but got last dimension {audio_signal.shape[-1]}.")
        self.update_max_seq_length(audio_signal.size(1 if bypass_pre_encode else 2), audio_signal.device)
        return self.forward_internal(audio_signal, length, bypass_pre_encode=bypass_pre_encode)

    def forward_internal(self, audio_signal, length=None, bypass_pre_encode: bool = False):
        """The offline forward pass (no table extension, no argument checks)."""
        if length is None:
            length = torch.full((audio_signal.size(0),), audio_signal.size(-1 if not bypass_pre_encode else 1),
                                dtype=torch.int64, device=audio_signal.device)
        if self.training and len(self.att_context_size_all) > 1:
            context = random.choices(self.att_context_size_all, weights=self.att_context_probs)[0]
        else:
            context = self.att_context_size

        if not bypass_pre_encode:
            audio_signal = audio_signal.transpose(1, 2)
            if isinstance(self.pre_encode, nn.Linear):
                audio_signal = self.pre_encode(audio_signal)
            else:
                audio_signal, length = self.pre_encode(x=audio_signal, lengths=length)
                length = length.to(torch.int64)

        audio_signal, pos_emb = self.pos_enc(x=audio_signal)
        pad_mask, att_mask = self._create_masks(context, length, audio_signal.size(1), audio_signal.device,
                                                audio_signal.dtype)

        for lth, (drop_prob, layer) in enumerate(zip(self.layer_drop_probs, self.layers)):
            original = audio_signal
            audio_signal = layer(x=audio_signal, att_mask=att_mask, pos_emb=pos_emb, pad_mask=pad_mask)
            if self.training and drop_prob > 0.0:
                if torch.rand(1) < drop_prob:
                    # keep the graph (every weight gets a gradient) but drop the layer's contribution
                    audio_signal = audio_signal * 0.0 + original
                else:
                    audio_signal = (audio_signal - original) / (1.0 - drop_prob) + original
            if self.reduction_position == lth:
                audio_signal, length = self.reduction_subsampling(x=audio_signal, lengths=length)
                _, pos_emb = self.pos_enc(x=audio_signal)
                pad_mask, att_mask = self._create_masks(context, length, audio_signal.size(1), audio_signal.device,
                                                        audio_signal.dtype)

        if self.out_proj is not None:
            audio_signal = self.out_proj(audio_signal)
        if self.reduction_position == -1:
            audio_signal, length = self.reduction_subsampling(x=audio_signal, lengths=length)
        return audio_signal.transpose(1, 2), length.to(torch.int64)

    def _create_masks(self, att_context_size, padding_length, max_audio_length: int, device,
                      dtype: torch.dtype = torch.float32) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """pad_mask (B, T), True on padding, and the additive attention mask (0 visible, -10000 hidden): padded
        keys only, (B, 1, 1, T), under unlimited context, (B, 1, T, T) with the context band otherwise. Padded
        query rows are zeroed from pad_mask by the attention. None where nothing is hidden."""
        valid = torch.arange(max_audio_length, device=device)[None, :] < padding_length[:, None]
        unlimited = self.att_context_style == "regular" and att_context_size[0] < 0 and att_context_size[1] < 0
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        valid_all = not tracing and (not self.use_pad_mask or bool(valid.all()))
        pad_mask = None if valid_all else ~valid
        if self.self_attention_model == "rel_pos_local_attn" or (valid_all and unlimited):
            return pad_mask, None
        visible = valid[:, None, None, :]
        if not unlimited:
            visible = visible & self._context_band(att_context_size, max_audio_length, device)[None, None]
        return pad_mask, (~visible).to(dtype) * -INF_VAL

    def _context_band(self, att_context_size, t: int, device) -> torch.Tensor:
        """(T, T) True where query i may see key j under the limited attention context."""
        idx = torch.arange(t, device=device)
        if self.att_context_style == "chunked_limited" and att_context_size[1] >= 0:
            chunk = att_context_size[1] + 1
            left_chunks = att_context_size[0] // chunk if att_context_size[0] >= 0 else 10000
            diff = (idx // chunk)[:, None] - (idx // chunk)[None, :]
            return (diff >= 0) & (diff <= left_chunks)
        offset = idx[None, :] - idx[:, None]
        band = torch.ones(t, t, dtype=torch.bool, device=device)
        if att_context_size[0] >= 0:
            band = band & (offset >= -att_context_size[0])
        if att_context_size[1] >= 0:
            band = band & (offset <= att_context_size[1])
        return band

    # ------------------------------------------------------------------ model surgery NeMo offers
    def change_attention_model(self, self_attention_model: Optional[str] = None,
                               att_context_size: Optional[List[int]] = None, update_config: bool = True,
                               device: Optional[torch.device] = None) -> None:
        """Switch between 'rel_pos', 'rel_pos_local_attn' and 'abs_pos' (and/or the context), keeping weights."""
        att_context_size = list(_plain(att_context_size)) if att_context_size else list(self.att_context_size)
        if self_attention_model is None:
            self_attention_model = self.self_attention_model
        if self_attention_model not in ("rel_pos", "rel_pos_local_attn", "abs_pos"):
            raise ValueError(f"'{self_attention_model}' is not a valid value for 'self_attention_model', valid "
                             f"values are ['rel_pos', 'rel_pos_local_attn', 'abs_pos']")
        if self_attention_model == "rel_pos_local_attn" and max(att_context_size) <= 0:
            raise ValueError("When using local attention, context size must be set > 0")
        new_pos_enc = self._make_pos_enc(self_attention_model, att_context_size, self._dropout)
        if device is None:
            device = next(self.parameters()).device
        self.pos_enc = new_pos_enc.to(device=device).train(self.training)  # NeMo leaves new modules in train mode
        self.self_attention_model = self_attention_model
        self.att_context_size = att_context_size
        self.max_audio_length = 0
        self.set_max_audio_length(self.pos_emb_max_len)
        for layer in self.layers:
            new_attn = make_self_attention(
                self_attention_model, self._n_heads, self.d_model, self._dropout_att, None, None, att_context_size,
                use_bias=self._use_bias, use_pytorch_sdpa=self.use_pytorch_sdpa,
                use_pytorch_sdpa_backends=self.use_pytorch_sdpa_backends).to(device=device).train(self.training)
            new_attn.load_state_dict(layer.self_attn.state_dict(), strict=False)
            layer.self_attn = new_attn
            layer.self_attention_model = self_attention_model

    def change_subsampling_conv_chunking_factor(self, subsampling_conv_chunking_factor: int) -> None:
        """Set the subsampling chunking factor: -1 off, 1 auto, or a power of 2 (bounds memory on long audio)."""
        if not hasattr(self.pre_encode, "change_subsampling_conv_chunking_factor"):
            raise ValueError(f"{type(self.pre_encode).__name__} pre-encoder has no conv chunking to change")
        self.pre_encode.change_subsampling_conv_chunking_factor(subsampling_conv_chunking_factor)
        self.subsampling_conv_chunking_factor = subsampling_conv_chunking_factor


@dataclass
class ConformerChangeConfig:
    """Arguments of `change_attention_model` as a config (None keeps the current value)."""

    self_attention_model: Optional[str] = None
    att_context_size: Optional[List[int]] = None
