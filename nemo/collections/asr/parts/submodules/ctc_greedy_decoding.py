"""Greedy CTC inference (spec §9.3): per-frame argmax, score over non-blank frames."""

from typing import List, Optional

import torch

from nemo.collections.asr.parts.submodules.decoding_configs import GreedyCTCInferConfig  # noqa: F401
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis


def _check_lengths(batch: int, time: int, lengths: Optional[torch.Tensor], device) -> torch.Tensor:
    if lengths is None:
        return torch.full((batch,), time, dtype=torch.long, device=device)
    return lengths.to(device=device, dtype=torch.long)


class GreedyCTCInfer:
    """Per-utterance greedy decoding: (B, T, V+1) log-probs or (B, T) labels -> frame-level Hypotheses.

    Collapsing repeats/blanks and mapping to text is done by `CTCDecoding`.
    """

    def __init__(
        self,
        blank_id: int,
        preserve_alignments: bool = False,
        compute_timestamps: bool = False,
        preserve_frame_confidence: bool = False,
        confidence_method_cfg=None,
    ):
        if preserve_frame_confidence:
            raise ValueError("preserve_frame_confidence is not supported by this implementation's greedy CTC decoder")
        self.blank_id = blank_id
        self.preserve_alignments = preserve_alignments
        self.compute_timestamps = compute_timestamps
        self.preserve_frame_confidence = False

    @torch.no_grad()
    def forward(self, decoder_output: torch.Tensor, decoder_lengths: Optional[torch.Tensor] = None):
        if decoder_output.dim() not in (2, 3):
            raise ValueError(f"decoder_output must be (B, T, V) log-probs or (B, T) labels, got {tuple(decoder_output.shape)}")
        lengths = _check_lengths(decoder_output.shape[0], decoder_output.shape[1], decoder_lengths, "cpu")
        hyps = [self._greedy_decode(decoder_output[i], int(lengths[i])) for i in range(decoder_output.shape[0])]
        return (hyps,)

    __call__ = forward

    def _greedy_decode(self, x: torch.Tensor, length: int) -> Hypothesis:
        x = x[:length].detach()
        if x.dim() == 2:
            x = x.float().cpu()
            max_prob, labels = x.max(dim=-1)
            non_blank = labels != self.blank_id
            score = float(max_prob[non_blank].sum())
        else:
            labels = x.long().cpu()
            score = 0.0
        hyp = Hypothesis(score=score, y_sequence=labels.to(torch.long), dec_state=None, timestamp=[], length=length)
        if self.preserve_alignments and x.dim() == 2:
            hyp.alignments = (x.clone(), labels.clone())
        return hyp


class GreedyBatchedCTCInfer(GreedyCTCInfer):
    """Vectorised greedy decoding over the whole batch; same labels and scores as GreedyCTCInfer."""

    @torch.no_grad()
    def forward(self, decoder_output: torch.Tensor, decoder_lengths: Optional[torch.Tensor] = None):
        if decoder_output.dim() != 3:
            return super().forward(decoder_output, decoder_lengths)
        batch, time, _ = decoder_output.shape
        x = decoder_output.detach().float()
        lengths = _check_lengths(batch, time, decoder_lengths, x.device)
        max_prob, labels = x.max(dim=-1)
        valid = torch.arange(time, device=x.device)[None, :] < lengths[:, None]
        scores = torch.where(valid & (labels != self.blank_id), max_prob, 0.0).sum(dim=-1).cpu()
        labels_cpu, lengths_cpu = labels.cpu(), lengths.cpu()
        hyps: List[Hypothesis] = []
        for i in range(batch):
            n = int(lengths_cpu[i])
            hyp = Hypothesis(score=float(scores[i]), y_sequence=labels_cpu[i, :n], dec_state=None, timestamp=[], length=n)
            if self.preserve_alignments:
                hyp.alignments = (x[i, :n].cpu().clone(), labels_cpu[i, :n].clone())
            hyps.append(hyp)
        return (hyps,)

    __call__ = forward
