"""`RNNTLoss`: NeMo's transducer loss front end; every loss name NeMo's configs use resolves to a PyTorch loss
that runs on the CPU (and on any device torch runs on)."""

import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from nemo.collections.asr.losses.rnnt_pytorch import (
    MultiblankRNNTLossPytorch,
    RNNTLossPytorch,
    TDTLossPytorch,
    check_reduction,
    reduce_transducer_losses,
)
from nemo.core.classes.common import typecheck
from nemo.core.classes.loss import Loss
from nemo.core.neural_types import LabelsType, LengthsType, LogprobsType, LossType, NeuralType

_log = logging.getLogger(__name__)


@dataclass
class RNNTLossConfig:
    """One entry of the loss table: the name, the library NeMo would use, and what runs here."""

    loss_name: str
    lib_name: str
    is_available: bool = True
    installation_msg: str = ""
    min_version: Optional[str] = None
    force_float32: bool = True


# NeMo's names; the numba/warp/k2 backends are all served by the PyTorch lattice here.
RNNT_LOSS_RESOLVER: Dict[str, RNNTLossConfig] = {
    "warprnnt": RNNTLossConfig("warprnnt", "torch"),
    "warprnnt_numba": RNNTLossConfig("warprnnt_numba", "torch"),
    "pytorch": RNNTLossConfig("pytorch", "torch"),
    "multiblank_rnnt": RNNTLossConfig("multiblank_rnnt", "torch"),
    "multiblank_rnnt_pytorch": RNNTLossConfig("pytorch", "torch"),
    "graph_w_transducer": RNNTLossConfig(
        "graph_w_transducer", "k2", is_available=False,
        installation_msg="The W-Transducer loss (NeMo's k2 `graph_w_transducer`) is not implemented here; "
                         "use `default`, `tdt` or `multiblank_rnnt`."),
    "graph_rnnt": RNNTLossConfig("graph_rnnt", "torch", force_float32=False),
    "tdt": RNNTLossConfig("tdt", "torch"),
    "tdt_pytorch": RNNTLossConfig("tdt_pytorch", "torch"),
}
RNNT_LOSS_RESOLVER["default"] = RNNT_LOSS_RESOLVER["warprnnt_numba"]

# Keyword arguments each name honours (as NeMo's resolver pops them); the rest are reported and ignored.
_KWARGS = {
    "warprnnt": (),
    "warprnnt_numba": ("fastemit_lambda", "clamp"),
    "pytorch": (),
    "multiblank_rnnt": ("fastemit_lambda", "clamp", "big_blank_durations", "sigma"),
    "multiblank_rnnt_pytorch": ("big_blank_durations", "sigma"),
    "graph_rnnt": ("use_grid_implementation", "connect_composed", "double_scores", "cast_to_float32",
                   "return_graph"),
    "tdt": ("fastemit_lambda", "clamp", "durations", "sigma", "omega"),
    "tdt_pytorch": ("durations", "sigma"),
}


def resolve_rnnt_default_loss_name() -> str:
    return RNNT_LOSS_RESOLVER["default"].loss_name


def _split_kwargs(loss_name: str, loss_kwargs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    kwargs = dict(loss_kwargs or {})
    used = {k: kwargs.pop(k) for k in _KWARGS[loss_name] if k in kwargs}
    if kwargs:
        _log.warning("Loss function `%s` was given keyword arguments it does not use; ignored: %s", loss_name, kwargs)
    return used


def resolve_rnnt_loss(loss_name: str, blank_idx: int, loss_kwargs: Optional[dict] = None) -> torch.nn.Module:
    """The loss module for a NeMo loss name; `blank_idx` is the blank token id (= num_classes)."""
    if loss_name not in RNNT_LOSS_RESOLVER:
        raise ValueError(f"Provided `loss_name` {loss_name!r} not in list of available RNNT losses "
                         f"{list(RNNT_LOSS_RESOLVER)}")
    config = RNNT_LOSS_RESOLVER[loss_name]
    if not config.is_available:
        raise ValueError(f"RNNT loss {loss_name!r}: {config.installation_msg}")
    if isinstance(loss_kwargs, DictConfig):
        loss_kwargs = OmegaConf.to_container(loss_kwargs, resolve=True)
    if loss_name == "default":
        loss_name = config.loss_name
    kw = _split_kwargs(loss_name, loss_kwargs)

    if loss_name in ("warprnnt", "warprnnt_numba", "pytorch", "graph_rnnt"):
        return RNNTLossPytorch(blank=blank_idx, reduction=None, fastemit_lambda=kw.get("fastemit_lambda", 0.0),
                               clamp=kw.get("clamp", -1.0))
    if loss_name in ("multiblank_rnnt", "multiblank_rnnt_pytorch"):
        return MultiblankRNNTLossPytorch(blank=blank_idx, big_blank_durations=kw.get("big_blank_durations", None),
                                         reduction=None, sigma=kw.get("sigma", 0.0),
                                         fastemit_lambda=kw.get("fastemit_lambda", 0.0), clamp=kw.get("clamp", -1.0))
    if loss_name in ("tdt", "tdt_pytorch"):
        if not kw.get("durations"):
            raise ValueError(f"RNNT loss {loss_name!r} needs `durations` in its loss kwargs "
                             f"(e.g. `{loss_name}_kwargs: {{durations: [0, 1, 2, 3, 4]}}`)")
        return TDTLossPytorch(blank=blank_idx, durations=kw["durations"], reduction=None, sigma=kw.get("sigma", 0.0),
                              omega=kw.get("omega", 0.0), fastemit_lambda=kw.get("fastemit_lambda", 0.0),
                              clamp=kw.get("clamp", -1.0))
    raise ValueError(f"Invalid value of `loss_name`: {loss_name!r}. Allowed loss names are {list(RNNT_LOSS_RESOLVER)}")


class RNNTLoss(Loss):
    """Transducer loss over the joint output (B, T, U+1, V+1[+durations]); blank = num_classes (the last token
    output), TDT duration logits follow the token logits. Raw or log-softmaxed joint outputs give the same loss."""

    @property
    def input_types(self):
        return {
            "log_probs": NeuralType(("B", "T", "T", "D"), LogprobsType()),
            "targets": NeuralType(("B", "T"), LabelsType()),
            "input_lengths": NeuralType(tuple("B"), LengthsType()),
            "target_lengths": NeuralType(tuple("B"), LengthsType()),
        }

    @property
    def output_types(self):
        return {"loss": NeuralType(elements_type=LossType())}

    def __init__(self, num_classes: int, reduction: Optional[str] = "mean_batch", loss_name: str = "default",
                 loss_kwargs=None):
        super().__init__()
        self._blank = num_classes
        self.reduction = check_reduction(reduction)
        self._loss = resolve_rnnt_loss(loss_name, blank_idx=self._blank, loss_kwargs=loss_kwargs)
        self._force_float32 = RNNT_LOSS_RESOLVER[loss_name].force_float32
        self._fp16_compat_checked = False

    def reduce(self, losses, target_lengths):
        if isinstance(losses, list):
            losses = torch.cat(losses, 0)
            target_lengths = torch.cat(target_lengths, 0)
        return reduce_transducer_losses(losses, target_lengths, self.reduction)

    @typecheck()
    def forward(self, log_probs, targets, input_lengths, target_lengths):
        targets = targets.long()
        input_lengths = input_lengths.long()
        target_lengths = target_lengths.long()
        if log_probs.dtype in (torch.float16, torch.bfloat16):
            log_probs = log_probs.float()
        if log_probs.dim() == 4 and input_lengths.numel():
            max_t = int(input_lengths.max())
            if log_probs.shape[1] > max_t:  # padding beyond the longest utterance
                log_probs = log_probs.narrow(1, 0, max_t)
            max_u = int(target_lengths.max())
            if targets.shape[1] > max_u:
                targets = targets.narrow(1, 0, max_u)
            if log_probs.shape[2] != max_u + 1:
                raise ValueError(f"RNNTLoss: log_probs has U+1 = {log_probs.shape[2]} but the longest target has "
                                 f"{max_u} tokens (expected U+1 = {max_u + 1})")
        loss = self._loss(acts=log_probs, labels=targets.contiguous(), act_lens=input_lengths,
                          label_lens=target_lengths)
        return self.reduce(loss, target_lengths)
