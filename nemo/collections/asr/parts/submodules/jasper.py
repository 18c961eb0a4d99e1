"""Jasper/QuartzNet building blocks (spec §7.2-§7.4, §7.6): masked 1-D convs, SE, the block itself."""

from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from nemo.utils.exceptions import ConfigError

jasper_activations = {
    "hardtanh": nn.Hardtanh,
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def init_weights(m: nn.Module, mode: Optional[str] = "xavier_uniform") -> None:
    """NeMo's initialisation of conv/linear weights and BatchNorm state (biases left alone)."""
    if isinstance(m, MaskedConv1d):
        init_weights(m.conv, mode)
    if isinstance(m, (nn.Conv1d, nn.Linear)):
        if mode is None:
            return
        if mode == "xavier_uniform":
            nn.init.xavier_uniform_(m.weight, gain=1.0)
        elif mode == "xavier_normal":
            nn.init.xavier_normal_(m.weight, gain=1.0)
        elif mode == "kaiming_uniform":
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        elif mode == "kaiming_normal":
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif mode == "tds_uniform":
            bound = 2.0 / (m.weight.shape[1] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1)) ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
        elif mode == "tds_normal":
            fan_in = m.weight.shape[1] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1)
            nn.init.normal_(m.weight, 0.0, 2.0 / fan_in**0.5)
        else:
            raise ValueError(f"Unknown Initialization mode: {mode}")
    elif isinstance(m, nn.BatchNorm1d):
        if m.track_running_stats:
            m.running_mean.zero_()
            m.running_var.fill_(1)
            m.num_batches_tracked.zero_()
        if m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def compute_new_kernel_size(kernel_size: int, kernel_width: float) -> int:
    """Scale a kernel by `kernel_width`, keep it >= 1 and odd."""
    new = max(int(kernel_size * kernel_width), 1)
    return new + 1 if new % 2 == 0 else new


def get_same_padding(kernel_size: int, stride: int, dilation: int) -> int:
    """Symmetric 'same' padding; stride > 1 with dilation > 1 is not supported."""
    if stride > 1 and dilation > 1:
        raise ValueError("Only stride OR dilation may be greater than 1")
    return (dilation * (kernel_size - 1)) // 2


def get_asymtric_padding(kernel_size: int, stride: int, dilation: int, future_context: int) -> Tuple[int, int]:
    """(left, right) padding that lets the conv see `future_context` frames ahead."""
    if stride > 1 and dilation > 1:
        raise ValueError("Only stride OR dilation may be greater than 1")
    left = kernel_size - 1 - future_context
    right = future_context
    if left < 0 or kernel_size <= future_context:
        return get_same_padding(kernel_size, stride, dilation), get_same_padding(kernel_size, stride, dilation)
    if dilation > 1:
        left = dilation * kernel_size - 1 - dilation * future_context
        right = dilation * future_context
    return left, right


def _mask(lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T) bool, True on valid frames."""
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """The same (B, C, T) values stored time-major (channels innermost), which oneDNN's CPU convolutions run
    several times faster than channel-major, depthwise ones above all."""
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def is_channels_last(x: torch.Tensor) -> bool:
    """True when (B, C, T) `x` is stored time-major (channels innermost)."""
    return x.dim() == 3 and x.size(1) > 1 and x.stride(1) == 1


def _runs_direct(module: nn.Module, x: torch.Tensor) -> bool:
    """True when `x` is channels-last and `module` has no hooks, so calling its functional form skips nothing."""
    if torch.jit.is_tracing() or x.dim() != 3 or x.size(1) == 1 or x.stride(1) != 1:
        return False
    hooks = nn.modules.module
    return not (module._forward_hooks or module._forward_pre_hooks or hooks._global_forward_hooks
                or hooks._global_forward_pre_hooks)


def conv1d(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)`, keeping a channels-last `x` channels-last (plain conv1d would copy it back to channel-major)."""
    if not _runs_direct(conv, x) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return conv(x)
    out = F.conv2d(x.unsqueeze(2), conv.weight.unsqueeze(2), conv.bias, (1, conv.stride[0]), (0, conv.padding[0]),
                   (1, conv.dilation[0]), conv.groups)
    return out.squeeze(2)


def batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """`bn(x)`, keeping a channels-last `x` channels-last; running statistics update exactly as BatchNorm1d's."""
    if not _runs_direct(bn, x):
        return bn(x)
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or bn.running_mean is None
    stats_tracked = not bn.training or bn.track_running_stats
    out = F.batch_norm(x.unsqueeze(2), bn.running_mean if stats_tracked else None,
                       bn.running_var if stats_tracked else None, bn.weight, bn.bias, use_batch_stats, factor, bn.eps)
    return out.squeeze(2)


def dropout(drop: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    """`drop(x)`; for a channels-last CPU `x` the mask is drawn in channel-major order, so a seed gives the same
    mask on both encoder paths (and as NeMo's)."""
    if not (drop.training and 0.0 < drop.p < 1.0 and x.device.type == "cpu" and _runs_direct(drop, x)):
        return drop(x)
    noise = torch.empty(x.shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - drop.p).div_(1.0 - drop.p)
    return x * noise


def _zero_padding(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Zero the frames of (B, C, T) `x` past each length (a multiply: far faster than masked_fill on CPU)."""
    return x * _mask(lens, x.size(2)).unsqueeze(1).to(x.dtype)


class MaskedConv1d(nn.Module):
    """Conv1d (held as `.conv`) that zeroes input frames past each length and updates the lengths."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding=0,
        dilation: int = 1,
        groups: int = 1,
        heads: int = -1,
        bias: bool = False,
        use_mask: bool = True,
        quantize: bool = False,
    ):
        super().__init__()
        refuse_quantize(quantize)
        if not (heads == -1 or groups == in_channels):
            raise ValueError("Only use heads for depthwise convolutions")
        if heads != -1:
            in_channels = heads
            out_channels = heads
            groups = heads
        ks, st, dl = _first(kernel_size), _first(stride), _first(dilation)
        if isinstance(padding, (tuple, list)) and len(padding) == 2:
            self.pad_layer = nn.ConstantPad1d(tuple(padding), 0.0)
            self._pad_sum = padding[0] + padding[1]
            conv_padding = 0
        else:
            self.pad_layer = None
            p = _first(padding)
            self._pad_sum = 2 * p
            conv_padding = p
        self.conv = nn.Conv1d(
            in_channels, out_channels, ks, stride=st, padding=conv_padding, dilation=dl, groups=groups, bias=bias
        )
        self.use_mask = use_mask
        self.heads = heads
        self.same_padding = st == 1 and self._pad_sum == dl * (ks - 1)

    def get_seq_len(self, lens: torch.Tensor) -> torch.Tensor:
        """Output lengths: unchanged for 'same' convs, else the usual conv arithmetic."""
        if self.same_padding:
            return lens
        ks, st, dl = self.conv.kernel_size[0], self.conv.stride[0], self.conv.dilation[0]
        return torch.div(lens + self._pad_sum - dl * (ks - 1) - 1, st, rounding_mode="trunc") + 1

    def forward(self, x: torch.Tensor, lens: torch.Tensor):
        if lens is not None:
            if self.use_mask:
                x = _zero_padding(x, lens)
            lens = self.get_seq_len(lens)
        if self.pad_layer is not None:
            x = self.pad_layer(x)
        batch, _, time = x.shape
        if self.heads != -1:
            x = x.reshape(-1, self.heads, time)
        out = conv1d(self.conv, x)
        if self.heads != -1:
            out = out.reshape(batch, -1, out.shape[-1])
        return out, lens


def refuse_quantize(quantize: bool) -> None:
    """NeMo's `quantize` swaps in pytorch-quantization's fake-quant layers, which this package does not have."""
    if quantize:
        raise ConfigError("quantize=True (encoder.quantize) needs NVIDIA's pytorch-quantization fake-quant layers, "
                          "which this package does not support; set quantize: false")


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


class GroupShuffle(nn.Module):
    """Interleave channels across groups after a grouped conv."""

    def __init__(self, groups: int, channels: int):
        super().__init__()
        self.groups = groups
        self.channels_per_group = channels // groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.view(-1, self.groups, self.channels_per_group, shape[-1])
        return x.transpose(1, 2).contiguous().view(*shape)


class SqueezeExcite(nn.Module):
    """Channel gating from a masked temporal mean: x * sigmoid(fc(mean))."""

    def __init__(
        self,
        channels: int,
        reduction_ratio: int,
        context_window: int = -1,
        interpolation_mode: str = "nearest",
        activation: Optional[Callable] = None,
        quantize: bool = False,
    ):
        super().__init__()
        refuse_quantize(quantize)
        self.context_window = int(context_window)
        self.interpolation_mode = interpolation_mode
        activation = activation if activation is not None else nn.ReLU(inplace=True)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction_ratio, bias=False),
            activation,
            nn.Linear(channels // reduction_ratio, channels, bias=False),
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        dtype = x.dtype
        with torch.amp.autocast(x.device.type, enabled=False):
            xf = x.float()
            if lengths is None:
                lengths = torch.full((xf.size(0),), xf.size(2), dtype=torch.long, device=xf.device)
            valid = _mask(lengths, xf.size(2)).unsqueeze(1)
            xf = xf * valid.to(xf.dtype)
            if self.context_window >= 0 and self.training and xf.size(2) >= self.context_window:
                # NeMo's draw (same generator call, so seeded training matches); it fails when T == window
                span = xf.size(2) - self.context_window
                start = int(torch.randint(0, span, size=[1], dtype=torch.int32)[0]) if span > 0 else 0
                window = slice(start, start + self.context_window)
                count = valid[:, :, window].sum(dim=-1, keepdim=True).clamp(min=1)
                pooled = xf[:, :, window].sum(dim=-1, keepdim=True) / count
            else:
                count = lengths.view(-1, 1, 1).to(xf.dtype).clamp(min=1)
                pooled = xf.sum(dim=-1, keepdim=True) / count
            h = F.linear(pooled.transpose(1, 2), self.fc[0].weight.float())
            h = F.linear(self.fc[1](h), self.fc[2].weight.float())
            gate = torch.sigmoid(h).transpose(1, 2)
            out = xf * gate
        return out.to(dtype), lengths


class JasperBlock(nn.Module):
    """`repeat` conv-BN(-act-dropout) sub-blocks (`mconv`), optional SE, residual branches (`res`)."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        repeat: int = 3,
        kernel_size=11,
        kernel_size_factor: float = 1,
        stride=1,
        dilation=1,
        padding: str = "same",
        dropout: float = 0.2,
        activation: Optional[nn.Module] = None,
        residual: bool = True,
        groups: int = 1,
        separable: bool = False,
        heads: int = -1,
        normalization: str = "batch",
        norm_groups: int = 1,
        residual_mode: str = "add",
        residual_panes: Sequence[int] = (),
        conv_mask: bool = False,
        se: bool = False,
        se_reduction_ratio: int = 16,
        se_context_window: int = -1,
        se_interpolation_mode: str = "nearest",
        stride_last: bool = False,
        future_context: int = -1,
        quantize: bool = False,
        layer_idx: int = -1,
    ):
        super().__init__()
        refuse_quantize(quantize)
        if padding != "same":
            raise ValueError("currently only 'same' padding is supported")
        kernel_size = [compute_new_kernel_size(k, kernel_size_factor) for k in _as_list(kernel_size)]
        stride, dilation = _as_list(stride), _as_list(dilation)
        if future_context < 0:
            padding_val = get_same_padding(kernel_size[0], stride[0], dilation[0])
        else:
            padding_val = get_asymtric_padding(kernel_size[0], stride[0], dilation[0], future_context)
        activation = activation if activation is not None else nn.Hardtanh(min_val=0.0, max_val=20.0)
        self.inplanes, self.planes = inplanes, planes
        self.conv_mask = conv_mask
        self.separable = separable
        self.residual_mode = residual_mode
        self.se = se
        self.quantize = quantize
        self.layer_idx = layer_idx
        common = dict(normalization=normalization, norm_groups=norm_groups, heads=heads)

        layers: List[nn.Module] = []
        in_ch = inplanes
        for _ in range(repeat - 1):
            layers.extend(self._get_conv_bn_layer(
                in_ch, planes, kernel_size, [1] if stride_last else stride, dilation, padding_val,
                groups=groups, separable=separable, **common,
            ))
            layers.extend([activation, nn.Dropout(p=dropout)])
            in_ch = planes
        layers.extend(self._get_conv_bn_layer(
            in_ch, planes, kernel_size, stride, dilation, padding_val, groups=groups, separable=separable, **common
        ))
        if se:
            layers.append(SqueezeExcite(planes, se_reduction_ratio, se_context_window, se_interpolation_mode,
                                        activation))
        self.mconv = nn.ModuleList(layers)

        res_stride = stride if residual_mode == "stride_add" else [1]
        main_stride = stride[0] ** (1 if stride_last else repeat)
        if residual and main_stride != res_stride[0]:
            raise ConfigError(
                f"encoder.jasper[{layer_idx}]: the convolutions stride by {main_stride} but the residual branch by "
                f"{res_stride[0]}, so they cannot be added (NeMo fails on the first forward); use "
                "residual_mode: stride_add, and stride_last: true when repeat > 1")
        if residual:
            panes = list(residual_panes)
            self.dense_residual = bool(panes)
            if not panes:
                panes = [inplanes]
            self.res = nn.ModuleList(
                nn.ModuleList(self._get_conv_bn_layer(
                    ip, planes, [1], res_stride, [1], 0, groups=1, separable=False,
                    normalization=normalization, norm_groups=norm_groups, heads=-1,
                ))
                for ip in panes
            )
        else:
            self.dense_residual = False
            self.res = None
        self.mout = nn.Sequential(activation, nn.Dropout(p=dropout))

    def _conv(self, in_ch, out_ch, kernel_size, stride, dilation, padding, groups, heads):
        if self.conv_mask:
            return MaskedConv1d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                groups=groups, heads=heads, bias=False, use_mask=True)
        if isinstance(padding, (tuple, list)):
            raise ValueError("asymmetric padding (future_context) needs conv_mask=True")
        return nn.Conv1d(in_ch, out_ch, _first(kernel_size), stride=_first(stride), padding=padding,
                         dilation=_first(dilation), groups=groups, bias=False)

    def _get_conv_bn_layer(self, in_ch, out_ch, kernel_size, stride, dilation, padding, groups, separable,
                           normalization, norm_groups, heads):
        if norm_groups == -1:
            norm_groups = out_ch
        if separable:
            layers = [
                self._conv(in_ch, in_ch, kernel_size, stride, dilation, padding, groups=in_ch, heads=heads),
                self._conv(in_ch, out_ch, 1, 1, 1, 0, groups=groups, heads=-1),
            ]
        else:
            layers = [self._conv(in_ch, out_ch, kernel_size, stride, dilation, padding, groups=groups, heads=-1)]
        if normalization == "group":
            layers.append(nn.GroupNorm(num_groups=norm_groups, num_channels=out_ch))
        elif normalization == "instance":
            layers.append(nn.GroupNorm(num_groups=out_ch, num_channels=out_ch))
        elif normalization == "layer":
            layers.append(nn.GroupNorm(num_groups=1, num_channels=out_ch))
        elif normalization == "batch":
            layers.append(nn.BatchNorm1d(out_ch, eps=1e-3, momentum=0.1))
        else:
            raise ConfigError(f"Normalization method ({normalization}) does not match one of "
                              "[batch, layer, group, instance] (encoder.normalization_mode).")
        if groups > 1:
            layers.append(GroupShuffle(groups, out_ch))
        return layers

    def forward(self, input_: Tuple[List[torch.Tensor], Optional[torch.Tensor]]):
        xs, lens_orig = input_
        out, lens = xs[-1], lens_orig
        # Group norms, channel shuffles, heads and asymmetric padding hand back channel-major tensors; a
        # channels-last input is put back in that layout after each layer so the next convs stay fast.
        keep = is_channels_last(out) and not torch.jit.is_tracing()
        for layer in self.mconv:
            if isinstance(layer, (MaskedConv1d, SqueezeExcite)):
                out, lens = layer(out, lens)
            elif isinstance(layer, nn.Conv1d):
                out, lens = conv1d(layer, out), None if lens is None else _conv_out_len(layer, lens)
            elif isinstance(layer, nn.BatchNorm1d):
                out = batch_norm(layer, out)
            elif isinstance(layer, nn.Dropout):
                out = dropout(layer, out)
            else:
                out = layer(out)
            if keep and not is_channels_last(out):
                out = to_channels_last(out)
        if self.res is not None:
            for i, branch in enumerate(self.res):
                res_out = xs[i]
                for layer in branch:
                    if isinstance(layer, MaskedConv1d):
                        res_out, _ = layer(res_out, lens_orig)
                    elif isinstance(layer, nn.Conv1d):
                        res_out = conv1d(layer, res_out)
                    elif isinstance(layer, nn.BatchNorm1d):
                        res_out = batch_norm(layer, res_out)
                    else:
                        res_out = layer(res_out)
                if self.residual_mode in ("add", "stride_add"):
                    out = out + res_out
                else:
                    out = torch.max(out, res_out)
            if keep and not is_channels_last(out):
                out = to_channels_last(out)
        for layer in self.mout:
            out = dropout(layer, out) if isinstance(layer, nn.Dropout) else layer(out)
        if self.dense_residual:
            return xs + [out], lens
        return [out], lens


def _conv_out_len(conv: nn.Conv1d, lens: torch.Tensor) -> torch.Tensor:
    """Lengths after an unmasked Conv1d (used when conv_mask is False)."""
    ks, st, dl, pd = conv.kernel_size[0], conv.stride[0], conv.dilation[0], conv.padding[0]
    return torch.div(lens + 2 * pd - dl * (ks - 1) - 1, st, rounding_mode="trunc") + 1


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
