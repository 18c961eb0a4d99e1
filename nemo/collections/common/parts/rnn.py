"""LSTM building blocks of transducer prediction networks (keys `lstm.weight_ih_l0`, ... as in NeMo)."""

from typing import List, Optional, Sequence, Tuple, Union

import torch

__all__ = ["LSTMDropout", "rnn", "label_collate"]


class LSTMDropout(torch.nn.Module):
    """A multi-layer `torch.nn.LSTM` (under `.lstm`) followed by optional dropout on its output.

    Initialisation follows the transducer recipe: forget-gate bias set to `forget_gate_bias`
    (or chrono init from `t_max`), hidden-hidden forget bias scaled, every weight scaled.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: Optional[float],
        forget_gate_bias: Optional[float],
        t_max: Optional[int] = None,
        weights_init_scale: float = 1.0,
        hidden_hidden_bias_scale: float = 0.0,
        proj_size: int = 0,
    ):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                                  dropout=dropout or 0.0, proj_size=proj_size)
        with torch.no_grad():
            if t_max is not None:
                for name, p in self.lstm.named_parameters():
                    if "bias" in name:
                        h = p.numel() // 4
                        p.zero_()
                        forget = torch.log(torch.empty(h).uniform_(1, t_max - 1))
                        p[h : 2 * h] = forget
                        p[:h] = -forget
            elif forget_gate_bias is not None:
                for name, p in self.lstm.named_parameters():
                    if "bias_ih" in name:
                        p[hidden_size : 2 * hidden_size].fill_(forget_gate_bias)
                    if "bias_hh" in name:
                        p[hidden_size : 2 * hidden_size] *= float(hidden_hidden_bias_scale)
            if weights_init_scale != 1.0:
                for p in self.parameters():
                    p.mul_(float(weights_init_scale))
        self.dropout = torch.nn.Dropout(dropout) if dropout else None

    def forward(self, x: torch.Tensor, h: Optional[Tuple[torch.Tensor, torch.Tensor]] = None):
        x, h = self.lstm(x, h)
        if self.dropout is not None:
            x = self.dropout(x)
        return x, h


def rnn(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    norm: Optional[str] = None,
    forget_gate_bias: Optional[float] = 1.0,
    dropout: Optional[float] = 0.0,
    norm_first_rnn: Optional[bool] = None,
    t_max: Optional[int] = None,
    weights_init_scale: float = 1.0,
    hidden_hidden_bias_scale: float = 0.0,
    proj_size: int = 0,
) -> torch.nn.Module:
    """The prediction network's RNN; only the plain LSTM (`norm: null`, what released models use) is built here."""
    if norm is not None:
        raise ValueError(f"prediction network normalization_mode={norm!r} is not supported here; use null "
                         "(a plain LSTM, as in every released transducer model)")
    return LSTMDropout(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout,
                       forget_gate_bias=forget_gate_bias, t_max=t_max, weights_init_scale=weights_init_scale,
                       hidden_hidden_bias_scale=hidden_hidden_bias_scale, proj_size=proj_size)


def label_collate(labels: Union[torch.Tensor, Sequence[Sequence[int]]], device=None) -> torch.Tensor:
    """Labels as a (B, U) int64 tensor: a tensor is cast, a list of lists is zero-padded."""
    if isinstance(labels, torch.Tensor):
        return labels.type(torch.int64)
    if not isinstance(labels, (list, tuple)):
        raise ValueError(f"`labels` should be a list or tensor not {type(labels)}")
    rows: List[Sequence[int]] = list(labels)
    width = max((len(r) for r in rows), default=0)
    out = torch.zeros(len(rows), width, dtype=torch.int64, device=device)
    for i, r in enumerate(rows):
        if len(r):
            out[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.int64)
    return out
