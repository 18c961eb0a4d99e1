"""Convolutions with explicit (possibly one-sided) zero padding, as NeMo's Conformer uses them.

The padding lives outside the convolution (`padding=0` inside), so the state-dict keys and shapes are those of
the plain `nn.Conv1d`/`nn.Conv2d` they extend.
"""

from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CausalConv1D", "CausalConv2D"]


class CausalConv2D(nn.Conv2d):
    """Conv2d that sees no future rows/columns: left/top padding `kernel_size - 1`, right/bottom `stride - 1`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: Optional[int] = None, dilation: int = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding is not None:
            raise ValueError("CausalConv2D computes its own padding: pass padding=None")
        self._left_padding = kernel_size - 1
        self._right_padding = stride - 1
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias, padding_mode,
                         device, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lp, rp = self._left_padding, self._right_padding
        return super().forward(F.pad(x, (lp, rp, lp, rp)))


class CausalConv1D(nn.Conv1d):
    """Conv1d with `[left, right]` zero padding: an int pads both sides, None makes it causal.

    Only the offline path is implemented: a streaming `cache` is refused with a clear error.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: Union[None, int, List[int]] = 0, dilation: int = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding is None:
            left, right = kernel_size - 1, stride - 1
        else:
            if stride != 1 and padding != kernel_size - 1:
                raise ValueError("No striding allowed for non-symmetric convolutions!")
            if isinstance(padding, int):
                left = right = padding
            elif isinstance(padding, (list, tuple)) and len(padding) == 2 and sum(padding) == kernel_size - 1:
                left, right = int(padding[0]), int(padding[1])
            else:
                raise ValueError(f"Invalid padding param: {padding}! Expected an int, None or [left, right] "
                                 f"with left + right == kernel_size - 1 ({kernel_size - 1}).")
        self._left_padding = left
        self._right_padding = right
        self._max_cache_len = left
        self.cache_drop_size = None
        symmetric = left == right
        super().__init__(in_channels, out_channels, kernel_size, stride, left if symmetric else 0, dilation, groups,
                         bias, padding_mode, device, dtype)
        self._pad_outside = not symmetric

    def forward(self, x: torch.Tensor, cache: Optional[torch.Tensor] = None) -> torch.Tensor:
        if cache is not None:
            raise ValueError("CausalConv1D: cache-aware streaming is not supported by this implementation")
        if self._pad_outside:
            x = F.pad(x, (self._left_padding, self._right_padding))
        return super().forward(x)
