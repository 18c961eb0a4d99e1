"""CTC loss with NeMo's reductions (spec §9.1): blank is the last class."""

import torch
from torch import nn

from nemo.core.classes.common import typecheck
from nemo.core.classes.loss import Loss
from nemo.core.neural_types import LabelsType, LengthsType, LogprobsType, LossType, NeuralType

_REDUCTIONS = ("none", "mean", "sum", "mean_batch", "mean_volume")


class CTCLoss(nn.CTCLoss, Loss):
    """torch CTC over (B, T, V+1) log-probs; `mean_batch` = mean of per-utterance losses,
    `mean_volume` = sum of losses / total target length."""

    def __init__(self, num_classes: int, zero_infinity: bool = False, reduction: str = "mean_batch"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"`reduction` must be one of {list(_REDUCTIONS)}, got {reduction!r}")
        self._blank = num_classes
        self._apply_reduction = reduction in ("mean_batch", "mean_volume")
        self._reduction = reduction
        super().__init__(blank=num_classes, reduction="none" if self._apply_reduction else reduction,
                         zero_infinity=zero_infinity)

    @property
    def input_types(self):
        return {
            "log_probs": NeuralType(("B", "T", "D"), LogprobsType()),
            "targets": NeuralType(("B", "T"), LabelsType()),
            "input_lengths": NeuralType(("B",), LengthsType()),
            "target_lengths": NeuralType(("B",), LengthsType()),
        }

    @property
    def output_types(self):
        return {"loss": NeuralType(elements_type=LossType())}

    def reduce(self, losses: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
        """Apply the NeMo-specific reduction to per-utterance losses."""
        if self._reduction == "mean_batch":
            return torch.mean(losses)
        return torch.sum(losses) / torch.sum(target_lengths)

    @typecheck()
    def forward(self, log_probs, targets, input_lengths, target_lengths):
        input_lengths = input_lengths.long()
        target_lengths = target_lengths.long()
        targets = targets.long()
        log_probs = log_probs.transpose(1, 0)
        loss = super().forward(log_probs=log_probs, targets=targets, input_lengths=input_lengths,
                               target_lengths=target_lengths)
        if self._apply_reduction:
            loss = self.reduce(loss, target_lengths)
        return loss
