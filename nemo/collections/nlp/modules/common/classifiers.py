"""Classification heads: `MultiLayerPerceptron`, `SequenceClassifier` (one label per sequence) and
`TokenClassifier` (one label per token), with NeMo's argument and state-dict key names."""

from typing import Optional

import torch
from torch import nn

from nemo.core.classes.exportable import Exportable
from nemo.core.classes.module import NeuralModule
from nemo.core.neural_types import ChannelType, LogitsType, LogprobsType, NeuralType

ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "elu", "selu", "silu")


def transformer_weights_init(module: nn.Module, std_init_range: float = 0.02, xavier: bool = True) -> None:
    """BERT/Transformer init: Linear xavier-uniform (or N(0, std)) with zero bias, Embedding N(0, std),
    LayerNorm 1/0. Apply with `model.apply(lambda m: transformer_weights_init(m, ...))`."""
    if isinstance(module, nn.Linear):
        if xavier:
            nn.init.xavier_uniform_(module.weight)
        else:
            nn.init.normal_(module.weight, mean=0.0, std=std_init_range)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std_init_range)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class MultiLayerPerceptron(nn.Module):
    """`num_layers` Linear layers named `layer0, layer2, ...` (odd indices are the activation, which
    owns no weights), hidden size H throughout, `num_classes` outputs, optional log-softmax."""

    def __init__(self, hidden_size: int, num_classes: int, num_layers: int = 2, activation: str = "relu", log_softmax: bool = True):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.log_softmax = log_softmax
        self.layers = num_layers
        for i in range(num_layers - 1):
            setattr(self, f"layer{2 * i}", nn.Linear(hidden_size, hidden_size))
        setattr(self, f"layer{2 * (num_layers - 1)}", nn.Linear(hidden_size, num_classes))

    @property
    def last_linear_layer(self) -> nn.Linear:
        return getattr(self, f"layer{2 * (self.layers - 1)}")

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        act = getattr(torch.nn.functional, self.activation)
        out = hidden_states
        for i in range(self.layers - 1):
            out = act(getattr(self, f"layer{2 * i}")(out))
        out = self.last_linear_layer(out)
        return torch.log_softmax(out, dim=-1) if self.log_softmax else out


class Classifier(NeuralModule, Exportable):
    """Base of the heads: owns `dropout` and the weight init."""

    def __init__(self, hidden_size: int, dropout: float = 0.0):
        super().__init__()
        self._hidden_size = hidden_size
        self.dropout = nn.Dropout(dropout)

    def post_init(self, use_transformer_init: bool) -> None:
        if use_transformer_init:
            self.apply(lambda m: transformer_weights_init(m, xavier=False))

    def input_example(self, max_batch: int = 2, max_dim: int = 16):
        return (torch.randn(max_batch, max_dim, self._hidden_size),)

    @property
    def input_types(self):
        return {"hidden_states": NeuralType(("B", "T", "D"), ChannelType())}


class SequenceClassifier(Classifier):
    """Logits (B, C) from the hidden state at position `idx_conditioned_on` (0 = [CLS])."""

    def __init__(
        self,
        hidden_size: int,
        num_classes: int,
        num_layers: int = 2,
        activation: str = "relu",
        log_softmax: bool = True,
        dropout: float = 0.0,
        use_transformer_init: bool = True,
        idx_conditioned_on: int = 0,
    ):
        super().__init__(hidden_size=hidden_size, dropout=dropout)
        self.log_softmax = log_softmax
        self._idx_conditioned_on = idx_conditioned_on
        self.mlp = MultiLayerPerceptron(hidden_size, num_classes, num_layers, activation, log_softmax)
        self.post_init(use_transformer_init)

    @property
    def output_types(self):
        return {"logits": NeuralType(("B", "D"), LogprobsType() if self.log_softmax else LogitsType())}

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(hidden_states)  # (B, T, H)
        return self.mlp(hidden_states[:, self._idx_conditioned_on])


class TokenClassifier(Classifier):
    """Per-token logits (B, T, C); the MT model uses it as its (tied) output projection."""

    def __init__(
        self,
        hidden_size: int,
        num_classes: int,
        num_layers: int = 1,
        activation: str = "relu",
        log_softmax: bool = True,
        dropout: float = 0.0,
        use_transformer_init: bool = True,
    ):
        super().__init__(hidden_size=hidden_size, dropout=dropout)
        self.log_softmax = log_softmax
        self.mlp = MultiLayerPerceptron(hidden_size, num_classes, num_layers, activation, log_softmax)
        self.post_init(use_transformer_init)

    @property
    def output_types(self):
        return {"logits": NeuralType(("B", "T", "C"), LogprobsType() if self.log_softmax else LogitsType())}

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.dropout(hidden_states))
