"""HiFi-GAN generator and discriminators (spec §C6) with NeMo's key layout.

Convolutions use the legacy `torch.nn.utils.weight_norm` (keys `weight_g`/`weight_v`), the first
multi-scale discriminator uses `spectral_norm` (`weight_orig`/`weight_u`/`weight_v`), and
`resblocks` is nested per upsampling stage: `resblocks.{stage}.{kernel}.convs1.{i}`.
"""

import math
import warnings
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.1


def _weight_norm(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():  # the legacy API is deprecated but its key names are the format
        warnings.simplefilter("ignore")
        return nn.utils.weight_norm(module)


def _remove_weight_norm(module: nn.Module) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nn.utils.remove_weight_norm(module)
        except ValueError:
            pass


def _score_and_features(x: torch.Tensor, convs: nn.ModuleList, conv_post: nn.Module):
    """A discriminator's conv stack: (flattened scores, every layer's output as feature maps)."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


def _judge_pairs(pairs):
    """(real scores, fake scores, real feature maps, fake feature maps) over (discriminator, real, fake) triples."""
    y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
    for d, y, y_hat in pairs:
        y_d_r, fmap_r = d(y)
        y_d_g, fmap_g = d(y_hat)
        y_d_rs.append(y_d_r)
        fmap_rs.append(fmap_r)
        y_d_gs.append(y_d_g)
        fmap_gs.append(fmap_g)
    return y_d_rs, y_d_gs, fmap_rs, fmap_gs


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def init_weights(m: nn.Module, mean: float = 0.0, std: float = 0.01) -> None:
    if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
        m.weight.data.normal_(mean, std)


class ResBlock1(nn.Module):
    """Three dilated convs each followed by a plain conv, with residual connections."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(
            _weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d)))
            for d in dilation)
        self.convs2 = nn.ModuleList(
            _weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=1, padding=get_padding(kernel_size, 1)))
            for _ in dilation)
        self.convs1.apply(init_weights)
        self.convs2.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = xt + x
        return x

    def remove_weight_norm(self) -> None:
        for conv in list(self.convs1) + list(self.convs2):
            _remove_weight_norm(conv)


class ResBlock2(nn.Module):
    """Dilated convs with residual connections (the lighter v3 block)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3)):
        super().__init__()
        self.convs = nn.ModuleList(
            _weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d)))
            for d in dilation)
        self.convs.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x

    def remove_weight_norm(self) -> None:
        for conv in self.convs:
            _remove_weight_norm(conv)


class Generator(nn.Module):
    """Mel (B, n_mels, T) -> audio (B, 1, T * prod(upsample_rates))."""

    def __init__(self, resblock, upsample_rates, upsample_kernel_sizes, upsample_initial_channel,
                 resblock_kernel_sizes, resblock_dilation_sizes, initial_input_size: int = 80,
                 apply_weight_init_conv_pre: bool = False):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        self.conv_pre = _weight_norm(nn.Conv1d(initial_input_size, upsample_initial_channel, 7, 1, padding=3))
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        ch = upsample_initial_channel
        for u, k in zip(upsample_rates, upsample_kernel_sizes):
            self.ups.append(_weight_norm(nn.ConvTranspose1d(ch, ch // 2, k, u, padding=(k - u) // 2)))
            ch //= 2
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for _ in range(self.num_upsamples):
            ch //= 2
            self.resblocks.append(nn.ModuleList(
                block(ch, k, d) for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes)))
        self.conv_post = _weight_norm(nn.Conv1d(ch, 1, 7, 1, padding=3))
        self.ups.apply(init_weights)
        self.conv_post.apply(init_weights)
        if apply_weight_init_conv_pre:
            self.conv_pre.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for up, blocks in zip(self.ups, self.resblocks):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(b(x) for b in blocks) / self.num_kernels
        x = F.leaky_relu(x)  # default slope 0.01, as in NeMo
        return torch.tanh(self.conv_post(x))

    def remove_weight_norm(self) -> None:
        for m in [self.conv_pre, *self.ups, self.conv_post]:
            _remove_weight_norm(m)
        for blocks in self.resblocks:
            for b in blocks:
                b.remove_weight_norm()


def _widths(base: Sequence[int], scale: float) -> List[int]:
    return [max(4, int(round(c * scale))) for c in base]


class DiscriminatorP(nn.Module):
    """Period discriminator: audio folded to (B, 1, T/p, p), 2-D convs over time.

    `width` scales the channel counts (1.0 = the published 32-128-512-1024-1024)."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3, use_spectral_norm: bool = False,
                 width: float = 1.0):
        super().__init__()
        self.period = period
        norm = nn.utils.spectral_norm if use_spectral_norm else _weight_norm
        pad = (get_padding(5, 1), 0)
        c = [1] + _widths([32, 128, 512, 1024, 1024], width)
        self.convs = nn.ModuleList(
            norm(nn.Conv2d(c[i], c[i + 1], (kernel_size, 1), (stride, 1) if i < 4 else 1,
                           padding=pad if i < 4 else (2, 0)))
            for i in range(5))
        self.conv_post = norm(nn.Conv2d(c[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor):
        fmap = []
        b, c, t = x.shape
        if t % self.period:
            pad = self.period - t % self.period
            x = F.pad(x, (0, pad), "reflect")
            t = t + pad
        x = x.view(b, c, t // self.period, self.period)
        return _score_and_features(x, self.convs, self.conv_post)


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, periods=(2, 3, 5, 7, 11), width: float = 1.0):
        super().__init__()
        self.discriminators = nn.ModuleList(DiscriminatorP(p, width=width) for p in periods)

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):
        """-> (real scores, fake scores, real feature maps, fake feature maps), one entry per period."""
        return _judge_pairs((d, y, y_hat) for d in self.discriminators)


class DiscriminatorS(nn.Module):
    """Scale discriminator: grouped strided 1-D convs over raw (or pooled) audio."""

    _LAYERS = [(128, 15, 1, 1), (128, 41, 2, 4), (256, 41, 2, 16), (512, 41, 4, 16), (1024, 41, 4, 16),
               (1024, 41, 1, 16), (1024, 5, 1, 1)]  # (channels, kernel, stride, groups)

    def __init__(self, use_spectral_norm: bool = False, width: float = 1.0):
        super().__init__()
        norm = nn.utils.spectral_norm if use_spectral_norm else _weight_norm
        self.convs = nn.ModuleList()
        c_in = 1
        for c, k, stride, groups in self._LAYERS:
            c_out = _widths([c], width)[0]
            groups = math.gcd(groups, math.gcd(c_in, c_out))
            self.convs.append(norm(nn.Conv1d(c_in, c_out, k, stride, groups=groups, padding=(k - 1) // 2)))
            c_in = c_out
        self.conv_post = norm(nn.Conv1d(c_in, 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor):
        return _score_and_features(x, self.convs, self.conv_post)


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, width: float = 1.0):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(use_spectral_norm=True, width=width), DiscriminatorS(width=width),
             DiscriminatorS(width=width)])
        self.meanpools = nn.ModuleList([nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):
        """-> (real scores, fake scores, real feature maps, fake feature maps); each scale sees pooled audio."""
        def scales():
            real, fake = y, y_hat
            for i, d in enumerate(self.discriminators):
                if i != 0:
                    real, fake = self.meanpools[i - 1](real), self.meanpools[i - 1](fake)
                yield d, real, fake

        return _judge_pairs(scales())
