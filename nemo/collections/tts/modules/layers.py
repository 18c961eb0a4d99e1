"""Small layers shared by the TTS modules: `ConvNorm` (Conv1d as `.conv`) and `LinearNorm` (Linear as `.linear_layer`)."""

import torch
from torch import nn


class LinearNorm(nn.Module):
    """Linear layer with Xavier init scaled for the following nonlinearity."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear"):
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """Conv1d with 'same' padding (odd kernels), Xavier init; weight norm only when asked."""

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=None, dilation=1, bias=True,
                 w_init_gain="linear", use_weight_norm=False):
        super().__init__()
        if padding is None:
            assert kernel_size % 2 == 1, "ConvNorm needs an odd kernel for 'same' padding"
            padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              dilation=dilation, bias=bias)
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))
        if use_weight_norm:
            self.conv = nn.utils.weight_norm(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def get_mask_from_lengths(lengths: torch.Tensor, max_len: int = None) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool, True on valid positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
