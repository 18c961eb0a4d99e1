"""Batched modified adaptive expansion search (mAES, Kim et al. 2020) for RNN-T, NeMo's `maes_batch`: per frame,
prefix search, then up to `maes_num_steps` rounds in which each batch x beam hypothesis proposes its
beam + beta best labels (pruned by value with gamma), duplicates are dropped and the best `beam` kept; hypotheses
still emitting tokens after the last round take a closing blank. Optional n-gram LM (or boosting-tree) fusion."""

from typing import Optional

import torch

from nemo.collections.asr.parts.submodules.rnnt_malsd_batched_computer import advance_prednet
from nemo.collections.asr.parts.utils.batched_beam_decoding_utils import (
    INACTIVE_SCORE,
    NON_EXISTENT_LABEL_VALUE,
    BatchedBeamHyps,
    BlankLMScoreMode,
    PruningMode,
    fusion_modes,
)

__all__ = ["ModifiedAESBatchedRNNTComputer"]

_EPS = 1e-6  # p(blank) cap 1 - eps in log(1 - p(blank)), as NeMo's mAES uses


class ModifiedAESBatchedRNNTComputer:
    """The search: (B, T, D) encoder output and lengths in, `BatchedBeamHyps` out (RNN-T only, as in NeMo)."""

    def __init__(self, decoder, joint, blank_index: int, beam_size: int, maes_num_steps: int = 2,
                 maes_expansion_beta: int = 2, maes_expansion_gamma: float = 2.3, preserve_alignments: bool = False,
                 ngram_lm_model=None, ngram_lm_alpha: float = 0.0,
                 blank_lm_score_mode: Optional[str] = BlankLMScoreMode.NO_SCORE,
                 pruning_mode: Optional[str] = PruningMode.EARLY, allow_cuda_graphs: Optional[bool] = False):
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        if maes_num_steps is None or int(maes_num_steps) < 1:
            raise ValueError(f"maes_num_steps must be a positive integer, got {maes_num_steps}")
        if maes_expansion_beta is None or int(maes_expansion_beta) < 0:
            raise ValueError(f"maes_expansion_beta must be a non-negative integer, got {maes_expansion_beta}")
        if preserve_alignments:
            raise ValueError("preserve_alignments is not supported by maes_batch, as in NeMo")
        self.decoder, self.joint = decoder, joint
        self._blank_index = int(blank_index)
        self.beam_size = int(beam_size)
        self.maes_num_steps = int(maes_num_steps)
        self.maes_expansion_beta = int(maes_expansion_beta)
        self.maes_expansion_gamma = float(maes_expansion_gamma)
        self.maes_num_expansions = self.beam_size + self.maes_expansion_beta
        vocab = joint.num_classes_with_blank - joint.num_extra_outputs
        if self.maes_num_expansions > vocab:
            raise ValueError(f"beam_size ({beam_size}) + maes_expansion_beta ({maes_expansion_beta}) must be at most "
                             f"the number of labels with blank ({vocab})")
        self.allow_cuda_graphs = allow_cuda_graphs  # accepted; the torch loop always runs
        pruning, blank_mode = fusion_modes(pruning_mode, blank_lm_score_mode)
        self.ngram_lm_batch = ngram_lm_model
        self.ngram_lm_alpha = float(ngram_lm_alpha or 0.0)
        if ngram_lm_model is not None:
            expected = joint.num_classes_with_blank - joint.num_extra_outputs - 1
            if self._blank_index != expected:
                raise ValueError(f"n-gram LM fusion needs blank as the last label: expected blank index {expected}, "
                                 f"got {self._blank_index}")
            self.pruning_mode, self.blank_lm_score_mode = pruning, blank_mode
        else:
            self.pruning_mode = self.blank_lm_score_mode = None

    def disable_cuda_graphs(self) -> bool:
        return False

    def maybe_enable_cuda_graphs(self) -> bool:
        return False

    def combine_scores(self, log_probs: torch.Tensor, lm_scores: torch.Tensor) -> torch.Tensor:
        """Acoustic log-probs [.., V+1] with the weighted LM scores [.., V] of the tokens (and blank weighting)."""
        res = log_probs.clone()
        if self.blank_lm_score_mode is BlankLMScoreMode.NO_SCORE:
            res[..., :-1] += lm_scores
            return res
        non_blank = torch.log1p(-torch.clamp(torch.exp(log_probs[..., -1]), max=1.0 - _EPS))
        res[..., :-1] += non_blank.unsqueeze(-1) * self.ngram_lm_alpha + lm_scores
        res[..., -1] *= 1 + self.ngram_lm_alpha
        return res

    def _prune_by_value(self, total: torch.Tensor) -> torch.Tensor:
        return torch.where(total <= total.max(dim=-1, keepdim=True).values - self.maes_expansion_gamma,
                           INACTIVE_SCORE, total)

    def _expansions(self, hyps: BatchedBeamHyps, log_probs: torch.Tensor, lm_scores: Optional[torch.Tensor]):
        """Per hypothesis its beam + beta candidate labels and total scores (value-pruned)."""
        e = self.maes_num_expansions
        scores = hyps.scores.unsqueeze(-1)
        if lm_scores is None:
            top, labels = log_probs.topk(e, dim=-1, largest=True, sorted=True)
            return labels, self._prune_by_value(scores + top)
        if self.pruning_mode is PruningMode.LATE:
            top, labels = self.combine_scores(log_probs, lm_scores).topk(e, dim=-1, largest=True, sorted=True)
            return labels, self._prune_by_value(scores + top)
        top, labels = log_probs.topk(e, dim=-1, largest=True, sorted=True)
        total = self._prune_by_value(scores + top)  # pruned on the acoustic scores, then fused
        is_blank = labels == self._blank_index
        lm = torch.gather(lm_scores, -1, torch.where(is_blank, 0, labels))
        if self.blank_lm_score_mode is BlankLMScoreMode.NO_SCORE:
            return labels, torch.where(is_blank, total, total + lm)
        alpha = self.ngram_lm_alpha
        non_blank = torch.log1p(-torch.clamp(torch.exp(log_probs[..., -1]), max=1.0 - _EPS)).unsqueeze(-1)
        return labels, torch.where(is_blank, total + top * alpha, total + non_blank * alpha + lm)

    def __call__(self, x: torch.Tensor, out_len: torch.Tensor, prev_batched_state=None):
        if prev_batched_state is not None:
            raise ValueError("streaming (prev_batched_state) is not supported by batched transducer beam search here")
        return self.batched_modified_adaptive_expansion_search_torch(x, out_len)

    def batched_modified_adaptive_expansion_search_torch(self, encoder_output: torch.Tensor,
                                                         encoder_output_length: torch.Tensor):
        """(B, T, D) encoder output -> (BatchedBeamHyps, None)."""
        batch_size = encoder_output.shape[0]
        k, e = self.beam_size, self.maes_num_expansions
        device = encoder_output.device
        encoder_output_length = encoder_output_length.to(device)
        enc_proj = self.joint.project_encoder(encoder_output)
        float_dtype = enc_proj.dtype
        rows = torch.arange(batch_size, device=device)[:, None].expand(batch_size, k)
        beams = torch.arange(k, device=device)[None, :].expand(batch_size, k)
        beam_of_candidate = torch.arange(k, device=device)[None, :, None].expand(batch_size, k, e)
        beam_of_candidate = beam_of_candidate.reshape(batch_size, -1)
        hyps = BatchedBeamHyps(batch_size, k, self._blank_index, device=device, float_dtype=float_dtype)
        time_indices = torch.zeros((batch_size, k), dtype=torch.long, device=device)
        last_timesteps = torch.clamp_min(encoder_output_length - 1, 0)[:, None].expand(batch_size, k)
        active = (encoder_output_length > 0)[:, None].expand(batch_size, k) & (time_indices <= last_timesteps)
        safe_time = torch.zeros_like(time_indices)

        lm_scores = lm_states = lm_next = None
        if self.ngram_lm_batch is not None:
            self.ngram_lm_batch.to(device)
            lm_states = self.ngram_lm_batch.get_init_states(batch_size=batch_size * k, bos=True)
            lm_scores, lm_next = self.ngram_lm_batch.advance(states=lm_states)
            lm_scores = lm_scores.to(float_dtype).view(batch_size, k, -1) * self.ngram_lm_alpha

        labels_wb = torch.full((batch_size * k, 1), self._blank_index, dtype=torch.long, device=device)
        dec_out, dec_state = self.decoder.predict(labels_wb, None, add_sos=False, batch_size=batch_size * k)[:2]
        dec_out = self.joint.project_prednet(dec_out)

        def log_probs_now():
            logits = self.joint.joint_after_projection(
                enc_proj[rows.reshape(-1), safe_time.reshape(-1)].unsqueeze(1), dec_out)[:, 0, 0, :]
            return torch.log_softmax(logits, dim=-1).view(batch_size, k, -1)

        while bool(active.any()):
            to_update = active.clone()
            logps = log_probs_now()
            hyps.recombine_prefixes(self.combine_scores(logps, lm_scores) if lm_scores is not None else logps, active)
            for _ in range(self.maes_num_steps):
                if not bool(to_update.any()):
                    break
                next_labels, next_probs = self._expansions(hyps, logps, lm_scores)
                next_labels = torch.where(to_update.unsqueeze(-1), next_labels, NON_EXISTENT_LABEL_VALUE)
                next_probs = torch.where(to_update.unsqueeze(-1), next_probs, INACTIVE_SCORE)
                next_probs = hyps.remove_duplicates(next_labels, next_probs)
                next_probs[..., -1] = torch.where(to_update, next_probs[..., -1], hyps.scores)  # finished: kept
                next_probs, idx = next_probs.view(batch_size, -1).topk(k, dim=-1, largest=True, sorted=True)
                next_labels = torch.gather(next_labels.view(batch_size, -1), -1, idx)
                parents = torch.gather(beam_of_candidate, -1, idx)
                hyps.add_results_(parents, next_labels, next_probs)

                last_wb = torch.where(next_labels >= 0, next_labels, self._blank_index)
                keep_state = last_wb == self._blank_index
                dec_out, dec_state = advance_prednet(self.decoder, self.joint, dec_out, dec_state, parents, last_wb,
                                                     self._blank_index, batch_size, k)
                if lm_states is not None:
                    nxt = torch.gather(lm_next.view(batch_size, k, -1), 1,
                                       parents[:, :, None].expand(batch_size, k, lm_next.shape[-1]))
                    prev = torch.gather(lm_states.view(batch_size, k), 1, parents)
                    taken = torch.gather(nxt, -1, torch.where(keep_state, 0, last_wb).unsqueeze(-1)).squeeze(-1)
                    lm_states = torch.where(keep_state, prev, taken).view(-1)
                    lm_scores, lm_next = self.ngram_lm_batch.advance(states=lm_states)
                    lm_scores = lm_scores.to(float_dtype).view(batch_size, k, -1) * self.ngram_lm_alpha
                logps = log_probs_now()
                to_update = to_update & (last_wb != self._blank_index)
            if bool(to_update.any()):  # still emitting after the last round: close the frame with a blank
                closing = torch.where(to_update, hyps.scores + logps[..., -1], hyps.scores)
                hyps.add_results_(beams, torch.where(to_update, self._blank_index, NON_EXISTENT_LABEL_VALUE),
                                  closing)
            time_indices = time_indices + 1
            active = time_indices <= last_timesteps
            safe_time = torch.where(active, time_indices, last_timesteps)
        return hyps, None
