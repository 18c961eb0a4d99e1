"""Batched modified alignment-length synchronous decoding (mALSD) for RNN-T, NeMo's `malsd_batch`: every step
extends each of the batch x beam hypotheses by one arc (blank moves to the next frame, a token stays), keeps the
best `beam` of the beam x beam candidates, merges equal hypotheses, and fuses n-gram LM / boosting-tree scores."""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from nemo.collections.asr.parts.utils.batched_beam_decoding_utils import (
    INACTIVE_SCORE,
    NON_EXISTENT_LABEL_VALUE,
    BatchedBeamHyps,
    BlankLMScoreMode,
    PruningMode,
    fusion_modes,
)

__all__ = ["ModifiedALSDBatchedRNNTComputer", "select_beam_states", "advance_prednet", "non_blank_log_prob"]


def select_beam_states(states, batch_size: int, beam_size: int, indices: torch.Tensor):
    """Prediction-net states (each (L, B*K, H)) of the parent beams `indices` [B, K]."""
    flat = (torch.arange(batch_size, device=indices.device)[:, None] * beam_size + indices).view(-1)
    return tuple(s.index_select(1, flat) for s in states)


def advance_prednet(decoder, joint, dec_out: torch.Tensor, dec_state, parents: torch.Tensor, labels: torch.Tensor,
                    blank_index: int, batch_size: int, beam_size: int):
    """Prediction-net output and state of each beam after its parent `parents` [B, K] emitted `labels` [B, K]
    (blank or none: the parent's output and state are kept)."""
    keep = labels == blank_index
    prev_out = torch.gather(dec_out.view(batch_size, beam_size, 1, -1), 1,
                            parents[:, :, None, None].expand(batch_size, beam_size, 1, dec_out.shape[-1]))
    prev_out = prev_out.reshape(batch_size * beam_size, 1, -1)
    prev_state = select_beam_states(dec_state, batch_size, beam_size, parents)
    new_out, new_state = decoder.predict(labels.view(-1, 1), prev_state, add_sos=False,
                                         batch_size=batch_size * beam_size)[:2]
    new_out = torch.where(keep.view(-1)[:, None, None], prev_out, joint.project_prednet(new_out))
    mask = keep.view(1, -1, 1)
    return new_out, tuple(torch.where(mask, p, n) for p, n in zip(prev_state, new_state))


def non_blank_log_prob(blank_log_prob: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """log(1 - p(blank)), with p(blank) capped at 1 - eps as NeMo does."""
    return torch.log1p(-torch.clamp(torch.exp(blank_log_prob), max=1.0 - eps))


class ModifiedALSDBatchedRNNTComputer:
    """The search: (B, T, D) encoder output and lengths in, `BatchedBeamHyps` out (no CUDA graphs here)."""

    model_type = "rnnt"

    def __init__(
        self,
        decoder,
        joint,
        blank_index: int,
        beam_size: int,
        max_symbols_per_step: Optional[int] = 10,
        preserve_alignments: bool = False,
        fusion_models: Optional[Sequence] = None,
        fusion_models_alpha: Optional[Sequence[float]] = None,
        blank_lm_score_mode: Optional[str] = None,
        pruning_mode: Optional[str] = None,
        allow_cuda_graphs: bool = True,
    ):
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        if preserve_alignments:
            raise ValueError("preserve_alignments is not supported by batched transducer beam search "
                             "(malsd_batch / maes_batch), as in NeMo")
        if max_symbols_per_step is not None and max_symbols_per_step <= 0:
            raise ValueError(f"max_symbols_per_step must be > 0 (or None), got {max_symbols_per_step}")
        self.decoder, self.joint = decoder, joint
        self._blank_index = int(blank_index)
        self.beam_size = int(beam_size)
        labels = joint.num_classes_with_blank - joint.num_extra_outputs
        if self.beam_size > labels:
            raise ValueError(f"beam_size ({beam_size}) must be at most the number of labels with blank ({labels})")
        self.max_symbols = max_symbols_per_step
        self.allow_cuda_graphs = allow_cuda_graphs  # accepted for NeMo's API; the torch loop always runs
        self.fusion_models = list(fusion_models) if fusion_models else None
        pruning, blank_mode = fusion_modes(pruning_mode, blank_lm_score_mode)
        if self.fusion_models is not None:
            expected = joint.num_classes_with_blank - joint.num_extra_outputs - 1
            if self._blank_index != expected:
                raise ValueError(f"n-gram LM fusion needs blank as the last label: expected blank index {expected}, "
                                 f"got {self._blank_index}")
            alphas = list(fusion_models_alpha) if fusion_models_alpha is not None else [1.0] * len(self.fusion_models)
            if len(alphas) != len(self.fusion_models):
                raise ValueError(f"{len(self.fusion_models)} fusion models but {len(alphas)} alphas")
            self.fusion_models_alpha = [float(a) for a in alphas]
            self.pruning_mode, self.blank_lm_score_mode = pruning, blank_mode
        else:
            self.fusion_models_alpha = None
            self.pruning_mode = None
            self.blank_lm_score_mode = None

    def disable_cuda_graphs(self) -> bool:
        return False

    def maybe_enable_cuda_graphs(self) -> bool:
        return False

    # ------------------------------------------------------------------ scoring
    def _log_probs(self, logits: torch.Tensor, shape) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Label log-probs [B, K, V+1] (and TDT duration log-probs) from joint logits [B*K, ...]."""
        return F.log_softmax(logits, dim=-1).view(*shape, -1), None

    def _fusion_weights(self, log_probs: torch.Tensor, fusion: torch.Tensor, labels: torch.Tensor,
                        top: torch.Tensor) -> torch.Tensor:
        """Early pruning: the fused score of the acoustic top-k `labels` with log-probs `top`."""
        masked = torch.where(labels == self._blank_index, 0, labels)
        lm = torch.gather(fusion, -1, masked)
        if self.blank_lm_score_mode is BlankLMScoreMode.NO_SCORE:
            return torch.where(labels == self._blank_index, top, top + lm)
        alpha = sum(self.fusion_models_alpha)
        non_blank = non_blank_log_prob(log_probs[..., -1]).unsqueeze(-1)
        return torch.where(labels == self._blank_index, top * (1 + alpha), top + non_blank * alpha + lm)

    def _late_fusion_(self, log_probs: torch.Tensor, fusion: torch.Tensor) -> None:
        """Late pruning: fused scores over the whole vocabulary, in place (the forced blank then uses them too)."""
        if self.blank_lm_score_mode is BlankLMScoreMode.NO_SCORE:
            log_probs[..., :-1] += fusion
            return
        alpha = sum(self.fusion_models_alpha)
        non_blank = non_blank_log_prob(log_probs[..., -1])
        log_probs[..., :-1] += non_blank.unsqueeze(-1) * alpha + fusion
        log_probs[..., -1] *= 1 + alpha

    def _candidates(self, log_probs, duration_log_probs, fusion):
        """Per hypothesis its `beam` best (score, label, duration) extensions and its forced-blank score."""
        k = self.beam_size
        if fusion is not None and self.pruning_mode is PruningMode.LATE:
            self._late_fusion_(log_probs, fusion)
        top, labels = torch.topk(log_probs, k, dim=-1, largest=True, sorted=True)
        if fusion is not None and self.pruning_mode is PruningMode.EARLY:
            top = self._fusion_weights(log_probs, fusion, labels, top)
        return top, labels, None, log_probs[..., self._blank_index]

    def _advance_time(self, time_indices, hyps_indices, next_labels, next_durations):
        return torch.gather(time_indices, -1, hyps_indices) + (next_labels == self._blank_index)

    # ------------------------------------------------------------------ search
    def __call__(self, x: torch.Tensor, out_len: torch.Tensor, prev_batched_state=None):
        if prev_batched_state is not None:
            raise ValueError("streaming (prev_batched_state) is not supported by batched transducer beam search here")
        return self.modified_alsd_torch(x, out_len)

    def modified_alsd_torch(self, encoder_output: torch.Tensor, encoder_output_length: torch.Tensor):
        """(B, T, D) encoder output -> (BatchedBeamHyps, None)."""
        batch_size, _, _ = encoder_output.shape
        k = self.beam_size
        device = encoder_output.device
        encoder_output_length = encoder_output_length.to(device)
        enc_proj = self.joint.project_encoder(encoder_output)
        float_dtype = enc_proj.dtype
        hyps = BatchedBeamHyps(batch_size, k, self._blank_index, device=device, float_dtype=float_dtype,
                               model_type=self.model_type)
        batch_beam = torch.arange(batch_size, device=device)[:, None].expand(batch_size, k)
        beam_of_candidate = torch.arange(k, device=device)[None, :, None].expand(batch_size, k, k)
        beam_of_candidate = beam_of_candidate.reshape(batch_size, -1)
        time_indices = torch.zeros((batch_size, k), dtype=torch.long, device=device)
        last_timesteps = (encoder_output_length - 1)[:, None].expand(batch_size, k)
        safe_time = torch.clamp(torch.minimum(time_indices, last_timesteps), min=0)
        active = time_indices <= last_timesteps

        fusion_states: List[torch.Tensor] = []
        fusion_next: List[torch.Tensor] = []
        fusion_scores: List[torch.Tensor] = []
        if self.fusion_models is not None:
            for fm, alpha in zip(self.fusion_models, self.fusion_models_alpha):
                fm.to(device)
                states = fm.get_init_states(batch_size=batch_size * k, bos=True)
                scores, nxt = fm.advance(states=states)
                fusion_states.append(states)
                fusion_next.append(nxt)
                fusion_scores.append(scores.to(float_dtype).view(batch_size, k, -1) * alpha)

        labels_wb = torch.full((batch_size * k, 1), self._blank_index, dtype=torch.long, device=device)
        dec_out, dec_state = self.decoder.predict(labels_wb, None, add_sos=False, batch_size=batch_size * k)[:2]
        dec_out = self.joint.project_prednet(dec_out)

        while bool(active.any()):
            logits = self.joint.joint_after_projection(
                enc_proj[batch_beam.reshape(-1), safe_time.reshape(-1)].unsqueeze(1), dec_out)[:, 0, 0, :]
            log_probs, duration_log_probs = self._log_probs(logits, (batch_size, k))
            fusion = sum(fusion_scores) if self.fusion_models is not None else None
            top, labels_top, durations_top, blank_forced = self._candidates(log_probs, duration_log_probs, fusion)
            scores = hyps.scores
            cand = scores.unsqueeze(-1) + top
            cand = torch.where(active.unsqueeze(-1), cand, INACTIVE_SCORE)
            cand[..., 0] = torch.where(active, cand[..., 0], scores)  # a finished hypothesis stays, unchanged
            labels_top = torch.where(active.unsqueeze(-1), labels_top, NON_EXISTENT_LABEL_VALUE)
            if self.max_symbols is not None:
                force_blank = (hyps.last_timestamp_lasts >= self.max_symbols) & active
            else:
                force_blank = torch.zeros_like(active)
            cand = torch.where(force_blank.unsqueeze(-1), INACTIVE_SCORE, cand)
            cand[..., 0] = torch.where(force_blank, scores + blank_forced, cand[..., 0])
            labels_top = torch.where(force_blank.unsqueeze(-1), self._blank_index, labels_top)
            if durations_top is not None:
                durations_top = torch.where(force_blank.unsqueeze(-1) & (durations_top == 0), 1, durations_top)

            next_scores, flat_idx = torch.topk(cand.view(batch_size, -1), k=k, largest=True, sorted=True)
            hyps_indices = torch.gather(beam_of_candidate, -1, flat_idx)
            next_labels = torch.gather(labels_top.reshape(batch_size, -1), -1, flat_idx)
            next_durations = (torch.gather(durations_top.reshape(batch_size, -1), -1, flat_idx)
                              if durations_top is not None else None)
            hyps.add_results_(hyps_indices, next_labels, next_scores, next_durations)
            hyps.recombine_hyps_()

            labels_wb = torch.where(next_labels >= 0, next_labels, self._blank_index)
            keep_state = labels_wb == self._blank_index
            dec_out, dec_state = advance_prednet(self.decoder, self.joint, dec_out, dec_state, hyps_indices, labels_wb,
                                                 self._blank_index, batch_size, k)

            if self.fusion_models is not None:
                for i, (fm, alpha) in enumerate(zip(self.fusion_models, self.fusion_models_alpha)):
                    nxt = torch.gather(fusion_next[i].view(batch_size, k, -1), 1,
                                       hyps_indices[:, :, None].expand(batch_size, k, fusion_next[i].shape[-1]))
                    prev = torch.gather(fusion_states[i].view(batch_size, k), 1, hyps_indices)
                    taken = torch.gather(nxt, -1, torch.where(keep_state, 0, labels_wb).unsqueeze(-1)).squeeze(-1)
                    states = torch.where(keep_state, prev, taken).view(-1)
                    scores_lm, nxt_all = fm.advance(states=states)
                    fusion_states[i], fusion_next[i] = states, nxt_all
                    fusion_scores[i] = scores_lm.to(float_dtype).view(batch_size, k, -1) * alpha

            time_indices = self._advance_time(time_indices, hyps_indices, next_labels, next_durations)
            safe_time = torch.clamp(torch.minimum(time_indices, last_timesteps), min=0)
            active = time_indices <= last_timesteps
        return hyps, None
