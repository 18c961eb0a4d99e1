"""Batched transducer beam hypotheses (NeMo's `BatchedBeamHyps` for RNN-T and TDT): a [batch, beam] prefix tree
kept as one tensor per decoding step (label, parent beam, frame, duration), with transcript hashes for merging
equal hypotheses, and conversion to NeMo's `Hypothesis` / `NBestHypotheses` at the end."""

from enum import Enum
from typing import List, Optional

import torch

from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses

__all__ = ["BatchedBeamHyps", "BlankLMScoreMode", "PruningMode", "INACTIVE_SCORE", "NON_EXISTENT_LABEL_VALUE",
           "hash_text"]

INACTIVE_SCORE = float("-inf")
NON_EXISTENT_LABEL_VALUE = -1  # the label of a finished hypothesis carried over unchanged
_HASH_MULT = 6364136223846793005


def hash_text(prev_hash: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Rolling 64-bit hash of a transcript extended by `labels` (wrap-around int64 arithmetic)."""
    return prev_hash * _HASH_MULT + 1 + labels


class BlankLMScoreMode(str, Enum):
    """How fusion models score blank: not at all, or blank weighted by (1 + sum of alphas) while tokens also get
    alpha * log(1 - p(blank))."""

    NO_SCORE = "no_score"
    LM_WEIGHTED_FULL = "lm_weighted_full"


class PruningMode(str, Enum):
    """Whether fusion scores are added before (`late`: over the whole vocabulary) or after (`early`: to the
    acoustic top-k) picking the candidates of each hypothesis."""

    EARLY = "early"
    LATE = "late"


def fusion_modes(pruning_mode, blank_lm_score_mode):
    """The (PruningMode, BlankLMScoreMode) a beam config names (None: early, lm_weighted_full); a clear error else."""
    try:
        return (PruningMode(pruning_mode or PruningMode.EARLY),
                BlankLMScoreMode(blank_lm_score_mode or BlankLMScoreMode.LM_WEIGHTED_FULL))
    except ValueError as e:
        raise ValueError(f"decoding.beam: {e}; pruning_mode is one of {[m.value for m in PruningMode]}, "
                         f"blank_lm_score_mode one of {[m.value for m in BlankLMScoreMode]}") from e


class BatchedBeamHyps:
    """Beam hypotheses of a batch; `add_results_` appends one step, `recombine_hyps_` merges equal ones."""

    def __init__(self, batch_size: int, beam_size: int, blank_index: int, device=None, float_dtype=None,
                 model_type: str = "rnnt"):
        if beam_size <= 0 or batch_size <= 0:
            raise ValueError(f"batch_size and beam_size must be positive, got {batch_size} and {beam_size}")
        if model_type not in ("rnnt", "tdt"):
            raise ValueError(f"model_type must be 'rnnt' or 'tdt', got {model_type!r}")
        self.batch_size, self.beam_size, self.blank_index = batch_size, beam_size, blank_index
        self.model_type = model_type
        shape = (batch_size, beam_size)
        long = dict(device=device, dtype=torch.long)
        self.scores = torch.full(shape, INACTIVE_SCORE, device=device, dtype=float_dtype)
        self.scores[:, 0] = 0.0
        self.current_lengths_nb = torch.zeros(shape, **long)
        self.last_label = torch.full(shape, NON_EXISTENT_LABEL_VALUE, **long)
        self.transcript_hash = torch.zeros(shape, **long)
        self.transcript_prefix_hash = torch.zeros(shape, **long)  # hash of the transcript without its last token
        self.next_timestamp = torch.zeros(shape, **long)
        self.last_timestamp_lasts = torch.zeros(shape, **long)  # labels emitted on the current frame
        self.step_labels: List[torch.Tensor] = []
        self.step_parents: List[torch.Tensor] = []
        self.step_times: List[torch.Tensor] = []
        self.step_durations: List[torch.Tensor] = []

    def add_results_(self, indices: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor,
                     durations: Optional[torch.Tensor] = None) -> None:
        """Beam j now extends beam `indices[:, j]` by `labels[:, j]` (blank, a token, or -1 = finished, no step)
        with total `scores`; TDT steps also move time by `durations`."""
        extended = labels >= 0
        with_blank = labels == self.blank_index
        with_label = extended & ~with_blank
        times = torch.gather(self.next_timestamp, 1, indices)
        lasts = torch.gather(self.last_timestamp_lasts, 1, indices)
        if self.model_type == "rnnt":
            self.step_times.append(times + with_blank)
            self.next_timestamp = times + with_blank
            self.last_timestamp_lasts = torch.where(with_blank, torch.zeros_like(lasts), lasts + with_label)
        else:
            if durations is None:
                raise ValueError("TDT hypotheses need the durations of each step")
            durations = torch.where(extended, durations, torch.zeros_like(durations))
            self.step_times.append(times + durations)
            self.step_durations.append(durations)
            self.next_timestamp = times + durations
            self.last_timestamp_lasts = torch.where(extended & (durations > 0), torch.zeros_like(lasts),
                                                    lasts + with_label)
        self.step_labels.append(labels)
        self.step_parents.append(indices)
        self.current_lengths_nb = torch.gather(self.current_lengths_nb, 1, indices) + with_label
        self.scores = scores.clone()
        prev_hash = torch.gather(self.transcript_hash, 1, indices)
        self.transcript_hash = torch.where(with_label, hash_text(prev_hash, labels), prev_hash)
        self.transcript_prefix_hash = torch.where(with_label, prev_hash,
                                                  torch.gather(self.transcript_prefix_hash, 1, indices))
        self.last_label = torch.where(with_label, labels, torch.gather(self.last_label, 1, indices))

    def recombine_hyps_(self) -> None:
        """Hypotheses with the same transcript, last label, length (and, for TDT, frame) are one: the best-scoring
        copy keeps log(sum of their probabilities), the others become inactive."""
        if self.beam_size <= 1:
            return
        equal = ((self.transcript_hash[:, :, None] == self.transcript_hash[:, None, :])
                 & (self.last_label[:, :, None] == self.last_label[:, None, :])
                 & (self.current_lengths_nb[:, :, None] == self.current_lengths_nb[:, None, :]))
        if self.model_type == "tdt":
            equal &= self.next_timestamp[:, :, None] == self.next_timestamp[:, None, :]
        inactive = torch.tensor(INACTIVE_SCORE, dtype=self.scores.dtype, device=self.scores.device)
        matrix = torch.where(equal, self.scores[:, None, :].expand(-1, self.beam_size, -1), inactive)
        keep = torch.arange(self.beam_size, device=self.scores.device)[None, :] == matrix.argmax(-1)
        self.scores = torch.where(keep, torch.logsumexp(matrix, dim=-1).to(self.scores.dtype), inactive)

    def remove_duplicates(self, labels: torch.Tensor, total_logps: torch.Tensor) -> torch.Tensor:
        """Candidate scores [B, K, E] with -inf for token expansions that equal a live hypothesis or a
        better-scoring expansion (each transcript is expanded once, by its best copy)."""
        if self.beam_size <= 1:
            return total_logps
        batch = self.batch_size
        non_blank = labels != self.blank_index
        hashes = torch.where(non_blank, hash_text(self.transcript_hash.unsqueeze(-1), labels),
                             self.transcript_hash.unsqueeze(-1)).view(batch, -1)
        live = torch.where(self.scores != INACTIVE_SCORE, self.transcript_hash, -1)
        existing = (hashes[:, :, None] == live[:, None, :]).any(-1) & non_blank.view(batch, -1)
        scores = torch.where(existing, INACTIVE_SCORE, total_logps.view(batch, -1))
        same = hashes[:, :, None] == hashes[:, None, :]
        best, best_at = torch.where(same, scores[:, None, :].expand(same.shape), INACTIVE_SCORE).max(dim=-1)
        keep = torch.arange(best_at.shape[-1], device=best_at.device)[None, :] == best_at
        return torch.where(keep, best, INACTIVE_SCORE).view(total_logps.shape)

    def recombine_prefixes(self, label_logps: torch.Tensor, active_mask: torch.Tensor) -> None:
        """Prefix search: add to each active hypothesis the probability of reaching it from a live hypothesis
        that is its transcript without the last token, on the current frame (`label_logps` [B, K, V+1])."""
        if self.beam_size <= 1 or not self.step_labels:
            return
        prefix = torch.where(self.current_lengths_nb == 0, -2, self.transcript_prefix_hash)
        is_prefix = self.transcript_hash[:, None, :] == prefix[:, :, None]  # [b, i, j]: j is i's prefix
        last = torch.where(self.last_label == NON_EXISTENT_LABEL_VALUE, self.blank_index, self.last_label)
        index = last[:, None, :].expand(-1, self.beam_size, -1)  # [b, x, y] = last label of y
        from_prefix = torch.gather(label_logps, -1, index).transpose(-1, -2)  # [b, i, j] = logp_j(last of i)
        via = self.scores[:, None, :] + from_prefix
        via = torch.logsumexp(torch.where(is_prefix, via, INACTIVE_SCORE), dim=-1)
        update = active_mask & (self.scores != INACTIVE_SCORE)
        self.scores = torch.where(update, torch.logaddexp(self.scores, via), self.scores)

    def _backtrack(self, order: torch.Tensor):
        """Per (batch, output beam) the step tensors of the hypothesis `order` points at, oldest step first."""
        rows = torch.arange(self.batch_size, device=order.device)[:, None]
        ptrs = order
        labels, times, durations = [], [], []
        for step in range(len(self.step_labels) - 1, -1, -1):
            labels.append(self.step_labels[step][rows, ptrs])
            times.append(self.step_times[step][rows, ptrs])
            if self.model_type == "tdt":
                durations.append(self.step_durations[step][rows, ptrs])
            ptrs = self.step_parents[step][rows, ptrs]
        empty = torch.zeros((self.batch_size, self.beam_size, 0), dtype=torch.long, device=order.device)
        stack = (lambda xs: torch.stack(xs[::-1], dim=-1) if xs else empty)
        return stack(labels), stack(times), (stack(durations) if self.model_type == "tdt" else None)

    def _sorted(self, score_norm: bool):
        norm = self.scores / (self.current_lengths_nb.to(self.scores.dtype) + 1) if score_norm else self.scores
        _, order = torch.sort(norm, dim=-1, descending=True)
        return order, torch.gather(self.scores, 1, order)

    def _hypothesis(self, score: float, labels, times, durations) -> Hypothesis:
        mask = (labels >= 0) & (labels != self.blank_index)
        ends = times[mask]
        if self.model_type == "tdt":
            dur = durations[mask]
            timestamp, token_duration = (ends - dur).cpu().numpy(), dur.cpu().numpy()
        else:
            timestamp, token_duration = ends.cpu().numpy(), None
        return Hypothesis(score=score, y_sequence=labels[mask].cpu().numpy(), timestamp=timestamp,
                          token_duration=token_duration, alignments=None, dec_state=None)

    def to_hyps_list(self, score_norm: bool = True) -> List[Hypothesis]:
        """The best hypothesis of each utterance (by score / (tokens + 1) when `score_norm`)."""
        order, scores = self._sorted(score_norm)
        labels, times, durations = self._backtrack(order[:, :1])
        return [self._hypothesis(float(scores[b, 0]), labels[b, 0], times[b, 0],
                                 durations[b, 0] if durations is not None else None)
                for b in range(self.batch_size)]

    def to_nbest_hyps_list(self, score_norm: bool = True) -> List[NBestHypotheses]:
        """Every live hypothesis of each utterance, best first."""
        order, scores = self._sorted(score_norm)
        labels, times, durations = self._backtrack(order)
        out = []
        for b in range(self.batch_size):
            nbest = [self._hypothesis(float(scores[b, k]), labels[b, k], times[b, k],
                                      durations[b, k] if durations is not None else None)
                     for k in range(self.beam_size) if float(scores[b, k]) > INACTIVE_SCORE]
            out.append(NBestHypotheses(nbest))
        return out
