"""Batched mALSD for TDT, NeMo's `malsd_batch` on TDT models: as for RNN-T, but each arc is a (label, duration)
pair scored log p(label) + log p(duration), time moves by the duration, and a blank moves at least one frame."""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from nemo.collections.asr.parts.submodules.rnnt_malsd_batched_computer import ModifiedALSDBatchedRNNTComputer
from nemo.collections.asr.parts.utils.batched_beam_decoding_utils import PruningMode

__all__ = ["ModifiedALSDBatchedTDTComputer"]


class ModifiedALSDBatchedTDTComputer(ModifiedALSDBatchedRNNTComputer):
    """The TDT search: (B, T, D) encoder output and lengths in, `BatchedBeamHyps` with durations out."""

    model_type = "tdt"

    def __init__(self, decoder, joint, durations: Sequence[int], blank_index: int, beam_size: int,
                 max_symbols_per_step: Optional[int] = 10, preserve_alignments: bool = False,
                 fusion_models=None, fusion_models_alpha=None, blank_lm_score_mode: Optional[str] = None,
                 pruning_mode: Optional[str] = None, allow_cuda_graphs: bool = False):
        if not durations:
            raise ValueError("TDT beam search needs the model's durations (model_defaults.tdt_durations)")
        super().__init__(decoder, joint, blank_index, beam_size, max_symbols_per_step, preserve_alignments,
                         fusion_models, fusion_models_alpha, blank_lm_score_mode, pruning_mode, allow_cuda_graphs)
        self.durations = list(durations)
        self._durations_t = None

    def _log_probs(self, logits, shape):
        n = len(self.durations)
        labels = F.log_softmax(logits[..., :-n], dim=-1).view(*shape, -1)
        durations = F.log_softmax(logits[..., -n:], dim=-1).view(*shape, -1)
        return labels, durations

    def _joint_topk(self, label_scores: torch.Tensor, duration_log_probs: torch.Tensor):
        """Top `beam` of label x duration sums: (scores, label positions, duration indices)."""
        n = len(self.durations)
        total = label_scores[..., :, None] + duration_log_probs[..., None, :]
        top, idx = torch.topk(total.flatten(-2), self.beam_size, dim=-1, largest=True, sorted=True)
        return top, idx // n, idx % n

    def _candidates(self, log_probs, duration_log_probs, fusion):
        if fusion is not None and self.pruning_mode is PruningMode.EARLY:
            top, labels = torch.topk(log_probs, self.beam_size, dim=-1, largest=True, sorted=True)
            top = self._fusion_weights(log_probs, fusion, labels, top)
            top, pos, dur_idx = self._joint_topk(top, duration_log_probs)
            labels = torch.gather(labels, -1, pos)
        else:
            if fusion is not None:
                self._late_fusion_(log_probs, fusion)
            top, labels, dur_idx = self._joint_topk(log_probs, duration_log_probs)
        if self._durations_t is None or self._durations_t.device != dur_idx.device:
            self._durations_t = torch.tensor(self.durations, dtype=torch.long, device=dur_idx.device)
        durations = self._durations_t[dur_idx]
        # a blank of duration 0 would not move: it takes one frame
        durations = torch.where((labels == self._blank_index) & (durations == 0), 1, durations)
        blank_forced = log_probs[..., -1] + duration_log_probs.max(dim=-1).values
        return top, labels, durations, blank_forced

    def _advance_time(self, time_indices, hyps_indices, next_labels, next_durations):
        return torch.gather(time_indices, -1, hyps_indices) + torch.where(next_labels >= 0, next_durations, 0)
