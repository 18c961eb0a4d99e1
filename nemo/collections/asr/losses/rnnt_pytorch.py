"""Transducer losses on raw joint logits (RNN-T, TDT, multi-blank) at NeMo's import path and names; all run on
the CPU through the vectorised lattice in `rnnt_lattice`."""

import random
from typing import List, Optional

import torch

from nemo.collections.asr.losses.rnnt_lattice import multiblank_spec, rnnt_spec, tdt_spec, transducer_loss
from nemo.core.classes.loss import Loss
from nemo.core.neural_types import LabelsType, LengthsType, LogprobsType, LossType, NeuralType

REDUCTIONS = (None, "none", "mean", "sum", "mean_batch", "mean_volume")


def reduce_transducer_losses(losses: torch.Tensor, target_lengths: torch.Tensor, reduction: Optional[str]):
    """NeMo's reductions: `mean_batch` averages utterances, `mean` averages loss/target length, `mean_volume`
    divides the sum by the total target length; `None`/`none` keeps one value per utterance."""
    if reduction == "mean_batch":
        return losses.mean()
    if reduction == "mean":
        return torch.div(losses, target_lengths).mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean_volume":
        return losses.sum() / target_lengths.sum()
    return losses


def check_reduction(reduction: Optional[str]) -> Optional[str]:
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {list(REDUCTIONS)}, got {reduction!r}")
    return reduction


def _check_inputs(acts, labels, act_lens, label_lens, num_token_logits: int):
    if acts.dim() != 4:
        raise ValueError(f"transducer loss: `log_probs` must be (B, T, U+1, V), got shape {tuple(acts.shape)}")
    B, T, U1 = acts.shape[:3]
    if labels.dim() != 2 or act_lens.shape != (B,) or label_lens.shape != (B,) or labels.shape[0] != B:
        raise ValueError(f"transducer loss: targets {tuple(labels.shape)}, input_lengths {tuple(act_lens.shape)} "
                         f"and target_lengths {tuple(label_lens.shape)} must match batch size {B}")
    if B == 0:
        return
    if int(act_lens.max()) > T or int(act_lens.min()) < 0:
        raise ValueError(f"transducer loss: input_lengths must lie in [0, {T}] (T of log_probs), "
                         f"got {act_lens.tolist()}")
    if int(label_lens.max()) + 1 > U1 or int(label_lens.min()) < 0 or int(label_lens.max()) > labels.shape[1]:
        raise ValueError(f"transducer loss: target_lengths must lie in [0, {min(U1 - 1, labels.shape[1])}] "
                         f"(U+1 = {U1} of log_probs, {labels.shape[1]} target columns), got {label_lens.tolist()}")
    cols = torch.arange(labels.shape[1], device=labels.device)[None, :]
    valid = cols < label_lens[:, None].to(labels.device)
    used = labels[valid]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= num_token_logits):
        raise ValueError(f"transducer loss: target ids must lie in [0, {num_token_logits}), "
                         f"got min {int(used.min())} max {int(used.max())}")


class _TransducerLossBase(Loss):
    """Shared ports and reduction of the transducer losses (acts, labels, act_lens, label_lens)."""

    @property
    def input_types(self):
        return {
            "acts": NeuralType(("B", "T", "T", "D"), LogprobsType()),
            "labels": NeuralType(("B", "T"), LabelsType()),
            "act_lens": NeuralType(tuple("B"), LengthsType()),
            "label_lens": NeuralType(tuple("B"), LengthsType()),
        }

    @property
    def output_types(self):
        return {"loss": NeuralType(elements_type=LossType())}

    def _finish(self, losses, label_lens):
        return reduce_transducer_losses(losses, label_lens, self.reduction)

    @staticmethod
    def _prepare(acts, labels, act_lens, label_lens):
        if acts.dtype in (torch.float16, torch.bfloat16):
            acts = acts.float()
        return acts, labels.long(), act_lens.long(), label_lens.long()


class RNNTLossPytorch(_TransducerLossBase):
    """RNN-T loss (blank = `blank`, a column of the joint) with optional FastEmit and gradient clamping."""

    def __init__(self, blank: int, reduction: Optional[str] = "mean_batch", fastemit_lambda: float = 0.0,
                 clamp: float = -1.0):
        super().__init__()
        self.blank = blank
        self.reduction = check_reduction(reduction)
        self.fastemit_lambda = float(fastemit_lambda)
        self.clamp = float(clamp) if clamp > 0 else 0.0

    def forward(self, acts, labels, act_lens, label_lens):
        acts, labels, act_lens, label_lens = self._prepare(acts, labels, act_lens, label_lens)
        _check_inputs(acts, labels, act_lens, label_lens, acts.shape[-1])
        spec = rnnt_spec(self.blank, self.fastemit_lambda, self.clamp)
        return self._finish(transducer_loss(acts, 0, labels, act_lens, label_lens, spec), label_lens)


class TDTLossPytorch(_TransducerLossBase):
    """Token-and-duration transducer loss: the last len(durations) joint outputs are duration logits.

    `sigma` under-normalises token log-probs; with probability `omega` a batch uses the plain RNN-T loss on the
    token logits instead (NeMo's sampled mixing); FastEmit and clamping as in NeMo's TDT kernel."""

    def __init__(self, blank: int, durations: Optional[List[int]] = None, reduction: Optional[str] = "sum",
                 sigma: float = 0.0, omega: float = 0.0, fastemit_lambda: float = 0.0, clamp: float = -1.0):
        super().__init__()
        self.blank = blank
        self.durations = [int(d) for d in (durations or [])]
        tdt_spec(blank, self.durations)  # validates the durations
        self.n_durations = len(self.durations)
        self.reduction = check_reduction(reduction)
        self.sigma = float(sigma)
        self.omega = float(omega)
        self.fastemit_lambda = float(fastemit_lambda)
        self.clamp = float(clamp) if clamp > 0 else 0.0

    def forward(self, acts, labels, act_lens, label_lens):
        acts, labels, act_lens, label_lens = self._prepare(acts, labels, act_lens, label_lens)
        if acts.dim() == 4 and acts.shape[-1] != self.blank + 1 + self.n_durations:
            raise ValueError(f"TDT loss: joint output has {acts.shape[-1]} values, expected blank + 1 + durations "
                             f"= {self.blank + 1} + {self.n_durations}")
        _check_inputs(acts, labels, act_lens, label_lens, acts.shape[-1] - self.n_durations)
        if self.omega > 0.0 and random.uniform(0, 1) < self.omega:
            spec = rnnt_spec(self.blank, self.fastemit_lambda, self.clamp)  # durations get a zero gradient
        else:
            spec = tdt_spec(self.blank, self.durations, self.sigma, self.fastemit_lambda, self.clamp)
        losses = transducer_loss(acts, self.n_durations, labels, act_lens, label_lens, spec)
        return self._finish(losses, label_lens)


class MultiblankRNNTLossPytorch(_TransducerLossBase):
    """Multi-blank transducer loss: big blank i sits at column blank-1-i and advances big_blank_durations[i]."""

    def __init__(self, blank: int, big_blank_durations: List[int], reduction: Optional[str] = "sum",
                 sigma: float = 0.0, fastemit_lambda: float = 0.0, clamp: float = -1.0):
        super().__init__()
        self.blank = blank
        self.big_blank_durations = [int(d) for d in (big_blank_durations or [])]
        multiblank_spec(blank, self.big_blank_durations)
        self.reduction = check_reduction(reduction)
        self.sigma = float(sigma)
        self.fastemit_lambda = float(fastemit_lambda)
        self.clamp = float(clamp) if clamp > 0 else 0.0

    def forward(self, acts, labels, act_lens, label_lens):
        acts, labels, act_lens, label_lens = self._prepare(acts, labels, act_lens, label_lens)
        _check_inputs(acts, labels, act_lens, label_lens, acts.shape[-1])
        spec = multiblank_spec(self.blank, self.big_blank_durations, self.sigma, self.fastemit_lambda, self.clamp)
        return self._finish(transducer_loss(acts, 0, labels, act_lens, label_lens, spec), label_lens)
