"""Conformer front ends: convolutional subsampling (masked as in NeMo >= 2.5), frame stacking and reduction.

Module and key layout follow NeMo's `parts/submodules/subsampling.py` (`conv.{i}` inside an `nn.Sequential`,
`out` the final projection), so NeMo-trained weights load unchanged.
"""

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from nemo.collections.asr.parts.submodules.causal_convs import CausalConv1D, CausalConv2D
from nemo.collections.asr.parts.submodules.cpu_linear import linear

__all__ = [
    "ConvSubsampling",
    "MaskedConvSequential",
    "StackingSubsampling",
    "SubsamplingReductionModule",
    "calc_length",
]

_SUBSAMPLING_TYPES = ("vggnet", "dw_striding", "striding", "striding_conv1d", "dw_striding_conv1d")


def calc_length(lengths: torch.Tensor, all_paddings: int, kernel_size: int, stride: int, ceil_mode: bool,
                repeat_num: int = 1) -> torch.Tensor:
    """Output length after `repeat_num` identical convolutions/poolings, in float as NeMo computes it (int32)."""
    lengths = lengths.to(dtype=torch.float)
    for _ in range(repeat_num):
        lengths = torch.div(lengths + float(all_paddings - kernel_size), stride) + 1.0
        lengths = torch.ceil(lengths) if ceil_mode else torch.floor(lengths)
    return lengths.to(dtype=torch.int)


def _time_mask(lengths: torch.Tensor, time: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) with 1 on valid frames and 0 on padding."""
    return (torch.arange(time, device=lengths.device)[None, :] < lengths[:, None]).to(dtype)


def _is_conv(layer: nn.Module) -> bool:
    return isinstance(layer, (nn.Conv1d, nn.Conv2d))


def _conv_out_length(layer: nn.Module, lengths: torch.Tensor) -> torch.Tensor:
    """Valid output frames of one conv along time (float lengths in, float out; floor division as in NeMo)."""
    if isinstance(layer, (CausalConv2D, CausalConv1D)):
        pads = layer._left_padding + layer._right_padding
    else:
        pads = 2 * layer.padding[0]
    return torch.div(lengths + pads - layer.kernel_size[0], layer.stride[0], rounding_mode="floor") + 1


def _im2col_ok(layer: nn.Module, x: torch.Tensor) -> bool:
    """A plain 1-input-channel Conv2d on a (B, 1, T, F) input, outside tracing: run as one matrix product."""
    return (type(layer) is nn.Conv2d and layer.in_channels == 1 and layer.groups == 1 and x.dim() == 4
            and layer.dilation == (1, 1) and layer.padding_mode == "zeros" and not isinstance(layer.padding, str)
            and not torch.jit.is_tracing() and not (layer._forward_hooks or layer._forward_pre_hooks))


def _single_channel_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` for the first subsampling conv as patches @ weights; the result is channels-last, which the
    depthwise and 1x1 convs after it run several times faster on (oneDNN), and the conv itself is faster too."""
    (kt, kf), (st, sf), (pt, pf) = conv.kernel_size, conv.stride, conv.padding
    b = x.size(0)
    patches = F.pad(x[:, 0], (pf, pf, pt, pt)).unfold(1, kt, st).unfold(2, kf, sf)  # (B, T', F', kt, kf)
    t, f = patches.size(1), patches.size(2)
    weight = conv.weight.reshape(conv.out_channels, kt * kf).t()
    cols = patches.reshape(b * t * f, kt * kf)
    y = torch.addmm(conv.bias, cols, weight) if conv.bias is not None else cols @ weight
    return y.view(b, t, f, conv.out_channels).permute(0, 3, 1, 2)


def _pointwise_ok(layer: nn.Module, x: torch.Tensor) -> bool:
    """A plain 1x1 Conv2d on a channels-last input, outside tracing: run as a matrix product over channels."""
    return (type(layer) is nn.Conv2d and layer.kernel_size == (1, 1) and layer.stride == (1, 1)
            and layer.padding == (0, 0) and layer.groups == 1 and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last) and not torch.jit.is_tracing()
            and not (layer._forward_hooks or layer._forward_pre_hooks))


def _pointwise_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` for a 1x1 conv on channels-last (B, C, T, F): a linear layer over the innermost channel axis
    (PyTorch's CPU conv would fall back to its slow im2col path here); the result stays channels-last."""
    y = linear(x.permute(0, 2, 3, 1), conv.weight.reshape(conv.out_channels, conv.in_channels), conv.bias)
    return y.permute(0, 3, 1, 2)


class MaskedConvSequential(nn.Sequential):
    """A conv stack that zeroes padded time steps before every layer, tracking the valid length through strides.

    2-D stacks take (B, T, F) and run on (B, C, T, F); 1-D stacks take (B, F, T). Returns (output, lengths).
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        two_d = any(isinstance(m, nn.Conv2d) for m in self)
        if two_d:
            x = x.unsqueeze(1)
        cur = lengths.to(torch.float)
        # Padding can only matter if some item is shorter than the tensor (or while tracing, where it may be).
        needs_mask = torch.jit.is_tracing() or bool((lengths < x.size(2)).any())
        if needs_mask:
            x = self._mask(x, cur, two_d)  # the input may be the caller's tensor: masked out of place
        for i, layer in enumerate(self):
            if i == 0 and _im2col_ok(layer, x):
                x = _single_channel_conv(layer, x)
            elif _pointwise_ok(layer, x):
                x = _pointwise_conv(layer, x)
            else:
                x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                cur = torch.ceil((cur + 2 * layer.padding - layer.kernel_size) / layer.stride) + 1
            elif _is_conv(layer) and layer.stride[0] != 1:
                cur = _conv_out_length(layer, cur)
            if needs_mask and (_is_conv(layer) or isinstance(layer, nn.MaxPool2d)):
                x = self._zero_padding_(x, cur, two_d)
        return x, cur.to(torch.long)

    @staticmethod
    def _mask(x: torch.Tensor, lengths: torch.Tensor, two_d: bool) -> torch.Tensor:
        mask = _time_mask(lengths, x.size(2), x.dtype)
        return x * (mask[:, None, :, None] if two_d else mask[:, None, :])

    @classmethod
    def _zero_padding_(cls, x: torch.Tensor, lengths: torch.Tensor, two_d: bool) -> torch.Tensor:
        """Zero each item's padded frames of a freshly computed `x` in place (a broadcast multiply over the whole
        tensor costs several times more); the multiply is kept while tracing so exported graphs stay dynamic, and
        under autograd, where each in-place slice would make the backward pass copy the whole gradient per item."""
        if torch.jit.is_tracing() or (x.requires_grad and torch.is_grad_enabled()):
            return cls._mask(x, lengths, two_d)
        t = x.size(2)
        for i, n in enumerate(lengths.clamp(min=0).to(torch.long).tolist()):
            if n < t:
                x[i, :, n:] = 0.0
        return x


class ConvSubsampling(nn.Module):
    """Strided conv front end: `striding`, `dw_striding`, `vggnet`, `striding_conv1d`, `dw_striding_conv1d`.

    `subsampling_conv_chunking_factor` bounds memory: 1 splits the batch only when the conv input would pass
    2**31 elements, a power of 2 always splits by that factor, -1 never splits (same numbers in every case).
    """

    def __init__(self, subsampling: str, subsampling_factor: int, feat_in: int, feat_out: int, conv_channels: int,
                 subsampling_conv_chunking_factor: int = 1, activation: nn.Module = None, is_causal: bool = False):
        super().__init__()
        if subsampling not in _SUBSAMPLING_TYPES:
            raise ValueError(f"Not valid sub-sampling: {subsampling!r}; choose one of {list(_SUBSAMPLING_TYPES)}")
        if subsampling_factor < 2 or subsampling_factor & (subsampling_factor - 1):
            raise ValueError(f"subsampling_factor must be a power of 2 (>= 2), got {subsampling_factor}")
        _check_chunking_factor(subsampling_conv_chunking_factor)
        if is_causal and subsampling in ("vggnet", "dw_striding_conv1d"):
            raise ValueError(f"causal_downsampling is not available for subsampling={subsampling!r}")
        activation = activation if activation is not None else nn.ReLU()
        self._subsampling = subsampling
        self._conv_channels = conv_channels
        self._feat_in = feat_in
        self._feat_out = feat_out
        self._sampling_num = int(math.log2(subsampling_factor))
        self.subsampling_factor = subsampling_factor
        self.is_causal = is_causal
        self.subsampling_conv_chunking_factor = subsampling_conv_chunking_factor
        self.conv2d_subsampling = subsampling in ("vggnet", "dw_striding", "striding")

        if subsampling == "vggnet":
            self._stride, self._kernel_size, self._ceil_mode = 2, 2, True
            self._left_padding = self._right_padding = 0
        else:
            self._stride = 2
            self._kernel_size = 3 if self.conv2d_subsampling else 5
            self._ceil_mode = False
            if is_causal:
                self._left_padding, self._right_padding = self._kernel_size - 1, self._stride - 1
            else:
                self._left_padding = self._right_padding = (self._kernel_size - 1) // 2
        self._max_cache_len = subsampling_factor + 1 if is_causal else 0

        layers = getattr(self, f"_build_{subsampling}")(activation)
        if self.conv2d_subsampling:  # `out` is registered before `conv`, as in NeMo (state-dict order)
            freq = int(calc_length(torch.tensor(feat_in, dtype=torch.float, device="cpu"),
                                   self._left_padding + self._right_padding, self._kernel_size, self._stride,
                                   self._ceil_mode, self._sampling_num))
            self.out = nn.Linear(conv_channels * freq, feat_out)
        else:
            self.out = None
        self.conv = MaskedConvSequential(*layers)

    # ------------------------------------------------------------------ builders (NeMo's layer order = key order)
    def _conv2d(self, cin: int, cout: int, groups: int = 1) -> nn.Module:
        if self.is_causal:
            return CausalConv2D(cin, cout, self._kernel_size, self._stride, padding=None, groups=groups)
        return nn.Conv2d(cin, cout, self._kernel_size, self._stride, self._left_padding, groups=groups)

    def _build_vggnet(self, act: nn.Module) -> List[nn.Module]:
        layers, cin = [], 1
        for _ in range(self._sampling_num):
            layers += [nn.Conv2d(cin, self._conv_channels, 3, 1, 1), act,
                       nn.Conv2d(self._conv_channels, self._conv_channels, 3, 1, 1), act,
                       nn.MaxPool2d(self._kernel_size, self._stride, 0, ceil_mode=True)]
            cin = self._conv_channels
        return layers

    def _build_striding(self, act: nn.Module) -> List[nn.Module]:
        layers, cin = [], 1
        for _ in range(self._sampling_num):
            layers += [self._conv2d(cin, self._conv_channels), act]
            cin = self._conv_channels
        return layers

    def _build_dw_striding(self, act: nn.Module) -> List[nn.Module]:
        c = self._conv_channels
        layers = [self._conv2d(1, c), act]
        for _ in range(self._sampling_num - 1):
            layers += [self._conv2d(c, c, groups=c), nn.Conv2d(c, c, 1), act]
        return layers

    def _build_striding_conv1d(self, act: nn.Module) -> List[nn.Module]:
        layers, cin = [], self._feat_in
        for i in range(self._sampling_num):
            cout = self._feat_out if i == self._sampling_num - 1 else self._conv_channels
            if self.is_causal:
                conv = CausalConv1D(cin, cout, self._kernel_size, self._stride, padding=None)
            else:
                conv = nn.Conv1d(cin, cout, self._kernel_size, self._stride, self._left_padding)
            layers += [conv, act]
            cin = self._conv_channels
        return layers

    def _build_dw_striding_conv1d(self, act: nn.Module) -> List[nn.Module]:
        layers, cin = [], self._feat_in
        for i in range(self._sampling_num):
            cout = self._feat_out if i == self._sampling_num - 1 else self._conv_channels
            layers += [nn.Conv1d(cin, cin, self._kernel_size, self._stride, self._left_padding, groups=cin),
                       nn.Conv1d(cin, cout, 1), act]
            cin = self._conv_channels
        return layers

    # ------------------------------------------------------------------ streaming facts NeMo exposes
    def get_sampling_frames(self) -> List[int]:
        return [1, self.subsampling_factor]

    def get_streaming_cache_size(self) -> List[int]:
        return [0, self.subsampling_factor + 1]

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, T, feat_in) features -> (B, T', feat_out), valid lengths (B,)."""
        if not self.conv2d_subsampling:
            x = x.transpose(1, 2)
        if self.conv2d_subsampling and self._needs_split(x):
            x, lengths = self._conv_in_chunks(x, lengths)
        else:
            x, lengths = self.conv(x, lengths)
        if self.conv2d_subsampling:
            b, c, t, f = x.size()
            x = linear(x.transpose(1, 2).reshape(b, t, c * f), self.out.weight, self.out.bias)
        else:
            x = x.transpose(1, 2)
        return x, lengths

    def _needs_split(self, x: torch.Tensor) -> bool:
        cf = self.subsampling_conv_chunking_factor
        if cf == -1 or torch.jit.is_tracing():
            return False
        if cf > 1:
            return True
        return x.numel() > 2 ** 31 / self._conv_channels * self._stride * self._stride

    def _chunk_factor(self, numel: int) -> int:
        if self.subsampling_conv_chunking_factor > 1:
            return self.subsampling_conv_chunking_factor
        ceiling = 2 ** 31 / self._conv_channels * self._stride * self._stride
        return 2 ** max(0, math.ceil(math.log2(numel / ceiling)))

    def _conv_in_chunks(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run the conv stack on batch slices, or (one long item, dw_striding) on channel/time slices."""
        b = x.size(0)
        step = b // self._chunk_factor(x.numel())
        if b > 1 and step > 0:
            outs = [self.conv(xc, lc) for xc, lc in zip(torch.split(x, step), torch.split(lengths, step))]
            return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
        if self._subsampling == "dw_striding":
            return self._dw_conv_by_channel(x, lengths)
        return self.conv(x, lengths)

    def _dw_conv_by_channel(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """dw_striding with the depthwise convs split by channel and the pointwise ones by time (masked)."""
        seq = self.conv
        cur = lengths.to(torch.float)
        x = MaskedConvSequential._mask(x.unsqueeze(1), cur, True)
        x = seq[1](seq[0](x))
        cur = _conv_out_length(seq[0], cur)
        x = MaskedConvSequential._zero_padding_(x, cur, True)
        for i in range(self._sampling_num - 1):
            dw, pw, act = seq[3 * i + 2], seq[3 * i + 3], seq[3 * i + 4]
            cf = self._chunk_factor(x.numel())
            c_step = max(1, x.size(1) // cf)
            parts, start = [], 0
            for chunk in torch.split(x, c_step, 1):
                n = chunk.size(1)
                w = dw.weight[start:start + n]
                bias = dw.bias[start:start + n] if dw.bias is not None else None
                if isinstance(dw, CausalConv2D):
                    lp, rp = dw._left_padding, dw._right_padding
                    parts.append(F.conv2d(F.pad(chunk, (lp, rp, lp, rp)), w, bias, dw.stride, 0, groups=n))
                else:
                    parts.append(F.conv2d(chunk, w, bias, dw.stride, dw.padding, groups=n))
                start += n
            x = torch.cat(parts, 1)
            cur = _conv_out_length(dw, cur)
            x = MaskedConvSequential._zero_padding_(x, cur, True)
            t_step = max(1, x.size(2) // cf)
            x = torch.cat([pw(chunk) for chunk in torch.split(x, t_step, 2)], 2)
            x = MaskedConvSequential._zero_padding_(act(x), cur, True)
        return x, cur.to(torch.long)

    def change_subsampling_conv_chunking_factor(self, subsampling_conv_chunking_factor: int) -> None:
        """Set the chunking factor (-1 off, 1 auto, or a power of 2)."""
        _check_chunking_factor(subsampling_conv_chunking_factor)
        self.subsampling_conv_chunking_factor = subsampling_conv_chunking_factor

    def reset_parameters(self) -> None:
        """NeMo's optional uniform init for dw_striding (Squeezeformer's scales)."""
        if self._subsampling != "dw_striding":
            return
        with torch.no_grad():
            scale = 1.0 / self._kernel_size
            dw_max = (self._kernel_size ** 2) ** -0.5
            pw_max = self._conv_channels ** -0.5
            nn.init.uniform_(self.conv[0].weight, -scale, scale)
            nn.init.uniform_(self.conv[0].bias, -scale, scale)
            for idx in range(2, len(self.conv), 3):
                for layer, bound in ((self.conv[idx], dw_max), (self.conv[idx + 1], pw_max)):
                    nn.init.uniform_(layer.weight, -bound, bound)
                    nn.init.uniform_(layer.bias, -bound, bound)
            fc_scale = (self._feat_out * self._feat_in / self._sampling_num) ** -0.5
            nn.init.uniform_(self.out.weight, -fc_scale, fc_scale)
            nn.init.uniform_(self.out.bias, -fc_scale, fc_scale)


def _check_chunking_factor(value: int) -> None:
    if value not in (-1, 1) and (value < 2 or value & (value - 1)):
        raise ValueError(f"subsampling_conv_chunking_factor should be -1, 1, or a power of 2, got {value}")


class StackingSubsampling(nn.Module):
    """Concatenate `subsampling_factor` consecutive frames and project them (optionally layer-normed first)."""

    def __init__(self, subsampling_factor: int, feat_in: int, feat_out: int, norm: bool = False):
        super().__init__()
        self.subsampling_factor = subsampling_factor
        self.proj_out = nn.Linear(subsampling_factor * feat_in, feat_out)
        self.pre_norm = nn.LayerNorm(feat_in) if norm else None

    def get_sampling_frames(self) -> int:
        return self.subsampling_factor

    def get_streaming_cache_size(self) -> int:
        return 0

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        b, t, h = x.size()
        pad = (self.subsampling_factor - t % self.subsampling_factor) % self.subsampling_factor
        x = F.pad(x, (0, 0, 0, pad))
        if self.pre_norm is not None:
            x = self.pre_norm(x)
        x = self.proj_out(x.reshape(b, (t + pad) // self.subsampling_factor, h * self.subsampling_factor))
        # NeMo adds the batch-wide pad to every length before dividing; kept for identical lengths.
        lengths = torch.div(lengths + pad, self.subsampling_factor, rounding_mode="floor")
        return x, lengths


class SubsamplingReductionModule(nn.Module):
    """Reduce the time axis inside the encoder: max-pooling or a striding conv stack (B, T, C) -> (B, T', C)."""

    def __init__(self, reduction: str, d_model: int, reduction_factor: int = 2):
        super().__init__()
        if reduction not in ("pooling", "striding"):
            raise ValueError(f"reduction must be 'pooling' or 'striding', got {reduction!r}")
        self.reduction = reduction
        self.d_model = d_model
        self._sampling_num = int(math.log2(reduction_factor))
        if reduction == "pooling":
            self.reduction_enc = nn.MaxPool1d(kernel_size=reduction_factor)
            self.padding = 0
            self.kernel_size = self.reduction_enc.kernel_size
            self.stride = self.reduction_enc.stride
        else:
            self.reduction_enc = ConvSubsampling(subsampling="striding", subsampling_factor=reduction_factor,
                                                 feat_in=d_model, feat_out=d_model, conv_channels=d_model,
                                                 activation=nn.ReLU(), is_causal=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.reduction == "striding":
            return self.reduction_enc(x=x, lengths=lengths)
        lengths = calc_length(lengths, self.padding, self.kernel_size, self.stride, False, self._sampling_num)
        x = self.reduction_enc(x.transpose(1, 2)).transpose(1, 2)
        return x, lengths
