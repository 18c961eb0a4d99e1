"""Token-and-duration transducer beam search (NeMo's `BeamTDTInfer`): `default` and `maes`; hypotheses wait
for the frame their last token's duration leads to, and equal (tokens, frame) hypotheses are merged."""

from typing import List, Optional

import numpy as np
import torch

from nemo.collections.asr.parts.submodules.rnnt_beam_decoding import (
    _TransducerBeamBase,
    _check_common_options,
    _logaddexp,
    is_prefix,
)
from nemo.collections.asr.parts.submodules.transducer_batched_beam_infer import BeamBatchedTDTInfer
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

__all__ = ["BeamTDTInfer", "BeamBatchedTDTInfer"]

# `decoding.beam` options of RNN-T searches that a TDT search accepts and does not use.
_RNNT_ONLY_OPTIONS = {"tsd_max_sym_exp_per_step", "alsd_max_target_len", "nsc_max_timesteps_expansion",
                      "nsc_prefix_alpha", "language_model", "hat_subtract_ilm", "hat_ilm_weight"}


class BeamTDTInfer(_TransducerBeamBase):
    """Beam search for TDT models; the joint's last len(durations) outputs are duration logits."""

    def __init__(
        self,
        decoder_model,
        joint_model,
        durations: list,
        beam_size: int,
        search_type: str = "default",
        score_norm: bool = True,
        return_best_hypothesis: bool = True,
        maes_num_steps: int = 2,
        maes_prefix_alpha: int = 1,
        maes_expansion_gamma: float = 2.3,
        maes_expansion_beta: int = 2,
        softmax_temperature: float = 1.0,
        preserve_alignments: bool = False,
        ngram_lm_model: Optional[str] = None,
        ngram_lm_alpha: float = 0.3,
        max_symbols_per_step: Optional[int] = None,
        blank_lm_score_mode: Optional[str] = "no_score",
        pruning_mode: Optional[str] = "early",
        allow_cuda_graphs: bool = False,
        **rnnt_only,
    ):
        unknown = set(rnnt_only) - _RNNT_ONLY_OPTIONS
        if unknown:
            raise TypeError(f"BeamTDTInfer got unexpected options {sorted(unknown)}")
        self.decoder = decoder_model
        self.joint = joint_model
        self.durations = [int(d) for d in durations]
        if not self.durations or max(self.durations) < 1:
            raise ValueError(f"TDT beam search needs durations with at least one >= 1, got {durations}")
        self.blank = decoder_model.blank_idx
        self.vocab_size = decoder_model.vocab_size
        self.search_type = search_type
        self.return_best_hypothesis = return_best_hypothesis
        self.beam_size = beam_size
        self.score_norm = score_norm
        self.max_candidates = beam_size
        self.softmax_temperature = softmax_temperature
        self.token_offset = 0
        self.ngram_lm = None
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        if preserve_alignments:
            raise ValueError("preserve_alignments is not supported by TDT beam search (as in NeMo)")
        self.preserve_alignments = False
        _check_common_options(search_type, None, ngram_lm_model, False)
        self.zero_duration_idx = self.durations.index(0) if 0 in self.durations else None
        self.min_non_zero_duration_idx = min((d, i) for i, d in enumerate(self.durations) if d > 0)[1]
        if search_type == "default":
            self.search_algorithm = self.default_beam_search
        elif search_type == "maes":
            self.maes_num_steps = int(maes_num_steps)
            self.maes_prefix_alpha = int(maes_prefix_alpha)
            self.maes_expansion_beta = int(maes_expansion_beta)
            self.maes_expansion_gamma = float(maes_expansion_gamma)
            if self.maes_prefix_alpha < 0:
                raise ValueError("`maes_prefix_alpha` must be a non-negative integer.")
            if self.vocab_size < beam_size + self.maes_expansion_beta:
                raise ValueError(f"beam_size ({beam_size}) + expansion_beta ({self.maes_expansion_beta}) must be at "
                                 f"most the vocabulary size ({self.vocab_size}).")
            if self.maes_num_steps < 1:
                raise ValueError("`maes_num_steps` must be greater than 0.")
            self.max_candidates += self.maes_expansion_beta
            self.search_algorithm = self.modified_adaptive_expansion_search
        else:
            raise ValueError(f"Unknown TDT beam search type {search_type!r}; use 'default' or 'maes'")

    def _logp(self, enc_out, dec_out):
        """Token and duration log-probs, (N, V+1) and (N, D), for one encoder frame and N decoder outputs."""
        logits = self.joint.joint(enc_out, dec_out) / self.softmax_temperature
        nd = len(self.durations)
        logits = logits.reshape(-1, logits.shape[-1])
        return torch.log_softmax(logits[:, :-nd], dim=-1), torch.log_softmax(logits[:, -nd:], dim=-1)

    @staticmethod
    def _with_token(hyp: Hypothesis, token: int, frame: int, duration: int, score: float, **fields) -> Hypothesis:
        return Hypothesis(score=score, y_sequence=hyp.y_sequence + [token], timestamp=hyp.timestamp + [frame],
                          token_duration=list(hyp.token_duration or []) + [duration],
                          last_frame=hyp.last_frame + duration, **fields)

    def merge_duplicate_hypotheses(self, hypotheses: List[Hypothesis]) -> List[Hypothesis]:
        """One hypothesis per (tokens, next frame), best first, with the probabilities of its duplicates added."""
        merged = {}
        for hyp in sorted(hypotheses, key=lambda x: x.score, reverse=True):
            key = (tuple(hyp.y_sequence), int(hyp.last_frame))
            if key in merged:
                merged[key].score = float(_logaddexp(merged[key].score, hyp.score))
            else:
                merged[key] = hyp
        return list(merged.values())

    # ------------------------------------------------------------------ default
    def default_beam_search(self, encoder_outputs: torch.Tensor, encoded_lengths: torch.Tensor,
                            partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """Per frame, expand the best hypothesis waiting there with the top (token, duration) pairs and blanks of
        the top non-zero durations, until `beam` hypotheses for later frames beat every one still waiting."""
        if partial_hypotheses is not None:
            raise ValueError("partial_hypotheses are not supported by TDT beam search")
        beam = min(self.beam_size, self.vocab_size)
        beam_k = min(beam, self.vocab_size - 1)
        dur_k = min(beam, len(self.durations))
        cache = {}
        kept = [Hypothesis(score=0.0, y_sequence=[self.blank], dec_state=self.decoder.initialize_state(encoder_outputs),
                           timestamp=[-1], length=0, last_frame=0, token_duration=[])]
        for t in range(int(encoded_lengths)):
            hyps = [x for x in kept if x.last_frame == t]
            kept = [x for x in kept if x.last_frame > t]
            enc_t = encoder_outputs[:, t: t + 1, :]
            while hyps:
                best = hyps.pop(max(range(len(hyps)), key=lambda j: hyps[j].score))
                dec_out, state, _ = self.decoder.score_hypothesis(best, cache)
                logp, dur_logp = self._logp(enc_t, dec_out)
                logp, dur_logp = logp[0], dur_logp[0]
                tok_v, tok_i = logp[:-1].topk(beam_k, dim=-1)
                dur_v, dur_i = dur_logp.topk(dur_k, dim=-1)
                pair_v, pair_i = (dur_v[:, None] + tok_v[None, :]).reshape(-1).topk(beam_k, dim=-1)
                for v, idx in zip(pair_v.tolist(), pair_i.tolist()):
                    token = int(tok_i[idx % beam_k])
                    duration = self.durations[int(dur_i[idx // beam_k])]
                    new = self._with_token(best, token, t, duration, best.score + v, dec_state=state,
                                           length=encoded_lengths)
                    (hyps if duration == 0 else kept).append(new)
                for j in dur_i.tolist():
                    if j == self.zero_duration_idx:
                        if dur_i.shape[0] != 1:
                            continue
                        j = self.min_non_zero_duration_idx
                    kept.append(Hypothesis(score=best.score + float(logp[self.blank] + dur_logp[j]),
                                           y_sequence=best.y_sequence[:], dec_state=best.dec_state,
                                           timestamp=best.timestamp[:], length=encoded_lengths,
                                           last_frame=best.last_frame + self.durations[j],
                                           token_duration=list(best.token_duration or [])))
                kept = self.merge_duplicate_hypotheses(kept)
                if hyps:
                    hyps_max = max(x.score for x in hyps)
                    most_prob = sorted([x for x in kept if x.score > hyps_max], key=lambda x: x.score)
                    if len(most_prob) >= beam:
                        kept = most_prob
                        break
                else:
                    kept = sorted(kept, key=lambda x: x.score, reverse=True)[:beam]
        return self.sort_nbest(kept)

    # ------------------------------------------------------------------ mAES
    def prefix_search(self, hypotheses: List[Hypothesis], encoder_output: torch.Tensor, prefix_alpha: int
                      ) -> List[Hypothesis]:
        """Add the probability of reaching each hypothesis from a shorter prefix by zero-duration tokens."""
        for j, long_hyp in enumerate(hypotheses[:-1]):
            for short_hyp in hypotheses[j + 1:]:
                n_long, n_short = len(long_hyp.y_sequence), len(short_hyp.y_sequence)
                if is_prefix(long_hyp.y_sequence, short_hyp.y_sequence) and n_long - n_short <= prefix_alpha:
                    logp, dur_logp = self._logp(encoder_output, short_hyp.dec_out[-1])
                    score = short_hyp.score + float(logp[0, long_hyp.y_sequence[n_short]]
                                                    + dur_logp[0, self.zero_duration_idx])
                    for k in range(n_short, n_long - 1):
                        logp, dur_logp = self._logp(encoder_output, long_hyp.dec_out[k])
                        score += float(logp[0, long_hyp.y_sequence[k + 1]] + dur_logp[0, self.zero_duration_idx])
                    long_hyp.score = float(np.logaddexp(long_hyp.score, score))
        return hypotheses

    def modified_adaptive_expansion_search(self, encoder_outputs: torch.Tensor, encoded_lengths: torch.Tensor,
                                           partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """mAES for TDT: batched (token, duration) expansions pruned by value; zero-duration tokens expand again
        within the frame for up to `maes_num_steps` steps."""
        if partial_hypotheses is not None:
            raise ValueError("partial_hypotheses are not supported by TDT beam search")
        beam = min(self.beam_size, self.vocab_size)
        init_state = self.decoder.initialize_state(torch.zeros(1, device=encoder_outputs.device,
                                                               dtype=encoder_outputs.dtype))
        start = Hypothesis(y_sequence=[self.blank], score=0.0, dec_state=self.decoder.batch_select_state(init_state, 0),
                           timestamp=[-1], length=0, last_frame=0)
        cache = {}
        dec_out, dec_states = self.decoder.batch_score_hypothesis([start], cache)
        kept = [Hypothesis(y_sequence=[self.blank], score=0.0, dec_state=dec_states[0], dec_out=[dec_out[0]],
                           timestamp=[-1], length=0, last_frame=0, token_duration=[])]
        for t in range(int(encoded_lengths)):
            hyps = [x for x in kept if x.last_frame == t]
            kept = [x for x in kept if x.last_frame > t]
            if not hyps:
                continue
            enc_t = encoder_outputs[:, t: t + 1]
            if self.zero_duration_idx is not None:
                hyps = self.prefix_search(sorted(hyps, key=lambda x: len(x.y_sequence), reverse=True), enc_t,
                                          prefix_alpha=self.maes_prefix_alpha)
            blanks, later = [], []
            for n in range(self.maes_num_steps):
                logp, dur_logp = self._logp(enc_t, torch.stack([x.dec_out[-1] for x in hyps]))
                top_v, top_i = logp.topk(self.max_candidates, dim=-1)
                total = (dur_logp[:, :, None] + top_v[:, None, :]).reshape(len(hyps), -1)
                best_v, best_i = total.topk(self.max_candidates, dim=-1)
                keep = best_v >= best_v.max(dim=-1, keepdim=True).values - self.maes_expansion_gamma
                same_frame, next_frames = [], []
                for h_idx, hyp in enumerate(hyps):
                    for idx in best_i[h_idx][keep[h_idx]].tolist():
                        k = int(top_i[h_idx][idx % self.max_candidates])
                        duration = self.durations[idx // self.max_candidates]
                        score = hyp.score + float(total[h_idx][idx])
                        if k == self.blank:
                            if duration == 0:
                                duration = self.durations[self.min_non_zero_duration_idx]
                            blanks.append(Hypothesis(score=score, y_sequence=hyp.y_sequence[:], dec_out=hyp.dec_out[:],
                                                     dec_state=hyp.dec_state, timestamp=hyp.timestamp[:], length=t,
                                                     last_frame=hyp.last_frame + duration,
                                                     token_duration=list(hyp.token_duration or [])))
                        else:
                            new = self._with_token(hyp, k, t, duration, score, dec_out=hyp.dec_out[:],
                                                   dec_state=hyp.dec_state, length=t)
                            (same_frame if duration == 0 else next_frames).append(new)
                grown = next_frames + same_frame
                if grown:
                    dec_out, dec_states = self.decoder.batch_score_hypothesis(grown, cache)
                    for i, hyp in enumerate(grown):
                        hyp.dec_out.append(dec_out[i])
                        hyp.dec_state = dec_states[i]
                later += next_frames
                if not same_frame:
                    kept = self.merge_duplicate_hypotheses(kept + blanks + later)
                    kept = sorted(kept, key=lambda x: x.score, reverse=True)[:beam]
                    break
                if n < self.maes_num_steps - 1:
                    hyps = self.merge_duplicate_hypotheses(same_frame)
                else:
                    logp, dur_logp = self._logp(enc_t, torch.stack([x.dec_out[-1] for x in same_frame]))
                    best_dur = dur_logp.argmax(dim=-1)
                    for i, hyp in enumerate(same_frame):
                        j = int(best_dur[i])
                        if j == self.zero_duration_idx:
                            j = self.min_non_zero_duration_idx
                        hyp.score += float(logp[i, self.blank] + dur_logp[i, j])
                        hyp.last_frame += self.durations[j]
                    kept = self.merge_duplicate_hypotheses(kept + blanks + same_frame + later)
                    kept = sorted(kept, key=lambda x: x.score, reverse=True)[:beam]
        return self.sort_nbest(kept)
