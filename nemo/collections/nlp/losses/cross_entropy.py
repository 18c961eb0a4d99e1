"""`CrossEntropyLoss` (optionally class-weighted) and `SmoothedCrossEntropyLoss` (label smoothing,
padding ignored) with NeMo's call signatures."""

from typing import List, Optional, Union

import torch
from torch import nn


class CrossEntropyLoss(nn.CrossEntropyLoss):
    """Cross-entropy over logits of any rank (flattened to (N, C)) with an optional `loss_mask`.

    Class weights are a non-persistent buffer: they come from the training data, so they are not
    part of the weights a restored model needs (NeMo saved them as `loss.weight`).
    """

    def __init__(self, logits_ndim: int = 2, weight: Optional[Union[List[float], torch.Tensor]] = None, reduction: str = "mean", ignore_index: int = -100):
        if weight is not None and not torch.is_tensor(weight):
            weight = torch.tensor(list(weight), dtype=torch.float)
        super().__init__(weight=None, reduction=reduction, ignore_index=ignore_index)
        self.register_buffer("weight", weight, persistent=False)
        self._logits_dim = logits_ndim

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, loss_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        logits = logits.reshape(-1, logits.shape[-1]).float()
        labels = labels.reshape(-1).long()
        if loss_mask is not None:
            keep = loss_mask.reshape(-1) > 0.5
            logits, labels = logits[keep], labels[keep]
        if labels.numel() == 0:
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(logits, labels, weight=self.weight, reduction=self.reduction, ignore_index=self.ignore_index)


class SmoothedCrossEntropyLoss(nn.Module):
    """Label-smoothed NLL on log-probs (B, T, V): with `s = V*ls/(V-1)` each position scores
    `(1-s)*logp[label] + s*mean(logp)`; positions whose label is `pad_id` are ignored."""

    def __init__(self, pad_id: Optional[int] = None, label_smoothing: float = 0.0, predict_last_k: int = 0, eps: float = 1e-6, per_token_reduction: bool = True):
        super().__init__()
        self._pad_id = pad_id
        self._eps = eps
        self._predict_last_k = predict_last_k
        self._label_smoothing = label_smoothing
        self._per_token_reduction = per_token_reduction

    def forward(self, log_probs: torch.Tensor, labels: torch.Tensor, output_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if output_mask is None:
            output_mask = (labels != self._pad_id) if self._pad_id is not None else torch.ones_like(labels, dtype=torch.bool)
        output_mask = output_mask.to(log_probs.dtype)
        vocab = log_probs.shape[-1]
        smoothing = vocab * self._label_smoothing / (vocab - 1) if vocab > 1 else 0.0
        target_lp = log_probs.gather(-1, labels.long().unsqueeze(-1)).squeeze(-1)
        smoothed = (1.0 - smoothing) * target_lp + smoothing * log_probs.mean(-1)
        if self._predict_last_k > 0:
            smoothed = smoothed[:, -self._predict_last_k:]
            output_mask = output_mask[:, -self._predict_last_k:]
        if self._per_token_reduction:
            return -(smoothed * output_mask).sum() / (output_mask.sum() + self._eps)
        per_seq = (smoothed * output_mask).sum(1) / (output_mask.sum(1) + self._eps)
        return -per_seq.mean()
