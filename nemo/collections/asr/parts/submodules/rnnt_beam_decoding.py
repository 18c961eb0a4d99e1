"""Transducer beam search (NeMo's `BeamRNNTInfer`): `default` beam search and modified adaptive expansion search
(`maes`) over any decoder/joint with NeMo's interface (`score_hypothesis`, `batch_score_hypothesis`,
`initialize_state`, `batch_select_state`, `joint`); beam size 1 runs the greedy search."""

import bisect
import copy
import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from nemo.collections.asr.parts.submodules.transducer_batched_beam_infer import BeamBatchedRNNTInfer, TransducerSearchPorts
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses

__all__ = ["BeamRNNTInfer", "BeamBatchedRNNTInfer", "BeamRNNTInferConfig", "pack_hypotheses", "is_prefix",
           "select_k_expansions"]

# Search types NeMo names that are not provided here; each gets an error naming it.
_NOT_PROVIDED = {
    "nsc": "constrained beam search (NeMo does not implement it either)",
    "malsd_batch": "batched modified alignment-length synchronous decoding: BeamBatchedRNNTInfer",
    "maes_batch": "batched modified adaptive expansion search: BeamBatchedRNNTInfer",
}


def _states_to_device(state, device="cpu"):
    if torch.is_tensor(state):
        return state.to(device)
    if isinstance(state, (list, tuple)):
        return tuple(_states_to_device(s, device) for s in state)
    return state


def pack_hypotheses(hypotheses: List[Hypothesis]) -> List[Hypothesis]:
    """Token lists -> LongTensors, states to CPU, and the leading <SOS> (blank, timestamp -1) dropped."""
    for hyp in hypotheses:
        hyp.y_sequence = torch.tensor(hyp.y_sequence, dtype=torch.long)
        if hyp.dec_state is not None:
            hyp.dec_state = _states_to_device(hyp.dec_state)
        if hyp.timestamp is not None and len(hyp.timestamp) > 0 and hyp.timestamp[0] == -1:
            hyp.timestamp = hyp.timestamp[1:]
            hyp.y_sequence = hyp.y_sequence[1:]
    return hypotheses


def is_prefix(x: List[int], pref: List[int]) -> bool:
    """True when `pref` is a strict prefix of `x`."""
    return len(pref) < len(x) and list(x[: len(pref)]) == list(pref)


def select_k_expansions(hyps: List[Hypothesis], topk_idxs: torch.Tensor, topk_logps: torch.Tensor, gamma: float,
                        beta: int) -> List[List[Tuple[int, float]]]:
    """Per hypothesis, the (token, score) expansions within `gamma` of its best one, lowest score first."""
    out = []
    for i, hyp in enumerate(hyps):
        cands = [(int(k), hyp.score + float(v)) for k, v in zip(topk_idxs[i], topk_logps[i])]
        best = max(cands, key=lambda c: c[1])
        kept = sorted((c for c in cands if c[1] >= best[1] - gamma), key=lambda c: c[1])
        out.append(kept if kept else [best])
    return out


def _check_common_options(search_type, language_model, ngram_lm_model, hat_subtract_ilm):
    if search_type in _NOT_PROVIDED:
        raise ValueError(f"Transducer beam search type {search_type!r} ({_NOT_PROVIDED[search_type]}) is not "
                         f"provided by this implementation; use 'default' (strategy 'beam'), 'tsd', 'alsd' "
                         "or 'maes'")
    if language_model is not None or ngram_lm_model:
        raise ValueError("Language-model fusion in transducer beam search (language_model / ngram_lm_model) is not "
                         "provided by this implementation; decode without it")
    if hat_subtract_ilm:
        raise ValueError("hat_subtract_ilm (HAT internal LM subtraction) is not provided by this implementation")


class _TransducerBeamBase(TransducerSearchPorts):
    """The batch loop shared by the RNN-T and TDT searches: each utterance is searched on its own."""

    def __call__(self, encoder_output: torch.Tensor, encoded_lengths: torch.Tensor,
                 partial_hypotheses: Optional[List[Hypothesis]] = None
                 ) -> Tuple[List[Union[Hypothesis, NBestHypotheses]]]:
        """(B, D, T) encoder output -> ([best Hypothesis or NBestHypotheses per utterance],)."""
        decoder_training, joint_training = self.decoder.training, self.joint.training
        hypotheses = []
        try:
            self.decoder.eval()
            self.joint.eval()
            with torch.inference_mode():
                enc = encoder_output.transpose(1, 2)
                dtype = next(self.joint.parameters()).dtype
                for b in range(enc.shape[0]):
                    length = int(encoded_lengths[b])
                    seq = enc[b: b + 1, :length, :]
                    if seq.dtype != dtype:
                        seq = seq.to(dtype)
                    partial = partial_hypotheses[b] if partial_hypotheses is not None else None
                    nbest = pack_hypotheses(self.search_algorithm(seq, encoded_lengths[b], partial_hypotheses=partial))
                    hypotheses.append(nbest[0] if self.return_best_hypothesis else NBestHypotheses(nbest))
        finally:
            self.decoder.train(decoder_training)
            self.joint.train(joint_training)
        return (hypotheses,)

    def sort_nbest(self, hyps: List[Hypothesis]) -> List[Hypothesis]:
        """Best first, by score (divided by the sequence length, <SOS> included, when score_norm)."""
        if self.score_norm:
            return sorted(hyps, key=lambda h: h.score / len(h.y_sequence), reverse=True)
        return sorted(hyps, key=lambda h: h.score, reverse=True)

    def set_decoding_type(self, decoding_type: str):
        """Kept for NeMo's API: token offsets only matter for n-gram LMs, which are not provided here."""
        self.decoding_type = decoding_type


class BeamRNNTInfer(_TransducerBeamBase):
    """Beam search for RNN-T models: `default` (the standard transducer beam search), `tsd` (time-synchronous),
    `alsd` (alignment-length synchronous) or `maes` (modified adaptive expansion)."""

    def __init__(
        self,
        decoder_model,
        joint_model,
        beam_size: int,
        search_type: str = "default",
        score_norm: bool = True,
        return_best_hypothesis: bool = True,
        tsd_max_sym_exp_per_step: Optional[int] = 50,
        alsd_max_target_len: Union[int, float] = 1.0,
        nsc_max_timesteps_expansion: int = 1,
        nsc_prefix_alpha: int = 1,
        maes_num_steps: int = 2,
        maes_prefix_alpha: int = 1,
        maes_expansion_gamma: float = 2.3,
        maes_expansion_beta: int = 2,
        language_model: Optional[Dict[str, Any]] = None,
        softmax_temperature: float = 1.0,
        preserve_alignments: bool = False,
        ngram_lm_model: Optional[str] = None,
        ngram_lm_alpha: float = 0.0,
        hat_subtract_ilm: bool = False,
        hat_ilm_weight: float = 0.0,
        max_symbols_per_step: Optional[int] = None,
        blank_lm_score_mode: Optional[str] = "no_score",
        pruning_mode: Optional[str] = "early",
        allow_cuda_graphs: bool = False,
    ):
        self.decoder = decoder_model
        self.joint = joint_model
        self.blank = decoder_model.blank_idx
        self.vocab_size = decoder_model.vocab_size
        self.search_type = search_type
        self.return_best_hypothesis = return_best_hypothesis
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        _check_common_options(search_type, language_model, ngram_lm_model, hat_subtract_ilm)
        self.beam_size = beam_size
        self.score_norm = score_norm
        self.max_candidates = beam_size
        self.softmax_temperature = softmax_temperature
        self.preserve_alignments = preserve_alignments
        self.max_symbols_per_step = 5 if max_symbols_per_step is None else int(max_symbols_per_step)
        self.tsd_max_symmetric_expansion_per_step = tsd_max_sym_exp_per_step
        self.alsd_max_target_length = alsd_max_target_len
        self.maes_num_steps = int(maes_num_steps)
        self.maes_prefix_alpha = int(maes_prefix_alpha)
        self.maes_expansion_gamma = float(maes_expansion_gamma)
        self.maes_expansion_beta = int(maes_expansion_beta)
        self.token_offset = 0
        self.ngram_lm = None
        if beam_size == 1:
            self.search_algorithm = self.greedy_search
        elif search_type == "default":
            self.search_algorithm = self.default_beam_search
        elif search_type in ("tsd", "alsd"):
            if not getattr(decoder_model, "blank_as_pad", False):
                raise ValueError(f"Search type {search_type!r} needs a decoder with `blank_as_pad` (the blank "
                                 "token as its padding value); use 'default' or 'maes'")
            self.search_algorithm = (self.time_sync_decoding if search_type == "tsd"
                                     else self.align_length_sync_decoding)
        elif search_type == "maes":
            if self.maes_prefix_alpha < 0:
                raise ValueError("`maes_prefix_alpha` must be a non-negative integer.")
            if self.vocab_size < beam_size + self.maes_expansion_beta:
                raise ValueError(f"beam_size ({beam_size}) + expansion_beta ({self.maes_expansion_beta}) must be at "
                                 f"most the vocabulary size ({self.vocab_size}).")
            if self.maes_num_steps < 2:
                raise ValueError("`maes_num_steps` must be greater than 1.")
            self.max_candidates += self.maes_expansion_beta
            self.search_algorithm = self.modified_adaptive_expansion_search
        else:
            raise ValueError(f"Unknown transducer beam search type {search_type!r}; use 'default', 'tsd', 'alsd' "
                             "or 'maes'")

    # ------------------------------------------------------------------ helpers
    def _logp(self, enc_out: torch.Tensor, dec_out: torch.Tensor) -> torch.Tensor:
        """Log-probs over the V+1 outputs for (1, 1, D) encoder and (N, 1, H) decoder frames: (N, 1, 1, V+1)."""
        return torch.log_softmax(self.joint.joint(enc_out, dec_out) / self.softmax_temperature, dim=-1)

    @staticmethod
    def _start(hyp: Hypothesis, partial: Optional[Hypothesis], device) -> None:
        if partial is not None and len(partial.y_sequence) > 0:
            hyp.y_sequence = [int(partial.y_sequence[-1])]
            hyp.dec_state = _states_to_device(partial.dec_state, device)

    # ------------------------------------------------------------------ greedy (beam 1)
    def greedy_search(self, h: torch.Tensor, encoded_lengths: torch.Tensor,
                      partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """Beam 1: the best token each step, at most `max_symbols_per_step` tokens a frame."""
        alignments = [[]] if self.preserve_alignments else None
        hyp = Hypothesis(score=0.0, y_sequence=[self.blank], dec_state=self.decoder.initialize_state(h),
                         timestamp=[-1], length=encoded_lengths)
        self._start(hyp, partial_hypotheses, h.device)
        cache = {}
        y, state, _ = self.decoder.score_hypothesis(hyp, cache)
        for i in range(int(encoded_lengths)):
            hi = h[:, i: i + 1, :]
            for _ in range(self.max_symbols_per_step):
                ytu = self._logp(hi, y)[0, 0, 0, :].float()
                logp, pred = torch.max(ytu, dim=-1)
                pred = int(pred)
                if alignments is not None:
                    alignments[-1].append((ytu.cpu(), torch.tensor(pred, dtype=torch.int32)))
                if pred == self.blank:
                    break
                hyp.y_sequence.append(pred)
                hyp.score += float(logp)
                hyp.dec_state = state
                hyp.timestamp.append(i)
                y, state, _ = self.decoder.score_hypothesis(hyp, cache)
            if alignments is not None:
                alignments.append([])  # one list per frame, also when max_symbols_per_step ended it
        if alignments is not None and len(alignments[-1]) == 0:
            del alignments[-1]
        hyp.alignments = alignments
        if partial_hypotheses is not None:
            hyp.y_sequence = hyp.y_sequence[1:]
        return [hyp]

    # ------------------------------------------------------------------ default beam search
    def default_beam_search(self, h: torch.Tensor, encoded_lengths: torch.Tensor,
                            partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """Per frame, expand the best open hypothesis (top-k tokens and blank) until `beam` finished ones beat
        every open one."""
        beam = min(self.beam_size, self.vocab_size)
        beam_k = min(beam, self.vocab_size - 1)
        non_blank = torch.tensor([i for i in range(self.vocab_size + 1) if i != self.blank], device=h.device)
        kept = [Hypothesis(score=0.0, y_sequence=[self.blank], dec_state=self.decoder.initialize_state(h),
                           timestamp=[-1], length=0)]
        self._start(kept[0], partial_hypotheses, h.device)
        if self.preserve_alignments:
            kept[0].alignments = [[]]
        cache = {}
        for i in range(int(encoded_lengths)):
            hi = h[:, i: i + 1, :]
            # open hypotheses: a heap on (-score, arrival) pops the first-best as a list scan would; a child
            # never outscores its parent, so the best open score only falls and a sorted list of finished
            # scores counts those above it
            order = itertools.count()
            heap = [(-x.score, next(order), x) for x in kept]
            heapq.heapify(heap)
            kept, kept_scores = [], []
            while heap:
                best = heapq.heappop(heap)[2]
                y, state, _ = self.decoder.score_hypothesis(best, cache)
                ytu = self._logp(hi, y)[0, 0, 0, :]
                top_v, top_i = ytu[non_blank].topk(beam_k, dim=-1)
                steps = [(float(v), int(non_blank[k])) for v, k in zip(top_v, top_i)]
                steps.append((float(ytu[self.blank]), self.blank))
                for logp, k in steps:
                    new = Hypothesis(score=best.score + logp, y_sequence=best.y_sequence[:], dec_state=best.dec_state,
                                     lm_state=best.lm_state, timestamp=best.timestamp[:], length=encoded_lengths)
                    if self.preserve_alignments:
                        new.alignments = copy.deepcopy(best.alignments)
                        new.alignments[-1].append((ytu.cpu().clone(), torch.tensor(k, dtype=torch.int32)))
                    if k == self.blank:
                        kept.append(new)
                        bisect.insort(kept_scores, new.score)
                    else:
                        new.dec_state = state
                        new.y_sequence.append(k)
                        new.timestamp.append(i)
                        heapq.heappush(heap, (-new.score, next(order), new))
                hyps_max = -heap[0][0] if heap else -math.inf
                if len(kept_scores) - bisect.bisect_right(kept_scores, hyps_max) >= beam:
                    kept = sorted([x for x in kept if x.score > hyps_max], key=lambda x: x.score)
                    if self.preserve_alignments:
                        for x in kept:
                            x.alignments.append([])
                    break
        if self.preserve_alignments:
            for x in kept:
                if len(x.alignments[-1]) == 0:
                    del x.alignments[-1]
        if partial_hypotheses is not None:
            for x in kept:
                if x.y_sequence[0] == int(partial_hypotheses.y_sequence[-1]) and len(x.y_sequence) > 1:
                    x.y_sequence = x.y_sequence[1:]
        return self.sort_nbest(kept)

    # ------------------------------------------------------------------ TSD / ALSD
    def time_sync_decoding(self, h: torch.Tensor, encoded_lengths: torch.Tensor,
                           partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """Time-synchronous decoding (Saon et al. 2020): per frame, up to `tsd_max_sym_exp_per_step` batched
        rounds of label expansion; hypotheses ending the frame with the same tokens are merged."""
        if partial_hypotheses is not None:
            raise ValueError("partial_hypotheses are not supported by the `tsd` search")
        beam = min(self.beam_size, self.vocab_size)
        non_blank = torch.tensor([i for i in range(self.vocab_size + 1) if i != self.blank], device=h.device)
        init_state = self.decoder.initialize_state(torch.zeros(beam, device=h.device, dtype=h.dtype))
        kept = [Hypothesis(y_sequence=[self.blank], score=0.0, dec_state=self.decoder.batch_select_state(init_state, 0),
                           timestamp=[-1], length=0)]
        rounds = self.tsd_max_symmetric_expansion_per_step
        rounds = -1 if rounds is None else int(rounds)
        cache = {}
        for i in range(int(encoded_lengths)):
            hi = h[:, i: i + 1, :]
            ended: List[Hypothesis] = []
            frontier = kept
            for _ in range(rounds):
                dec_out, dec_states = self.decoder.batch_score_hypothesis(frontier, cache)
                logp = self._logp(hi, torch.stack(dec_out))[:, 0, 0, :]
                top_v, top_i = logp[:, non_blank].topk(beam, dim=-1)
                ended_seqs = [x.y_sequence for x in ended]
                for j, hyp in enumerate(frontier):
                    score = hyp.score + float(logp[j, self.blank])
                    if hyp.y_sequence in ended_seqs:
                        at = ended_seqs.index(hyp.y_sequence)
                        ended[at].score = float(_logaddexp(ended[at].score, score))
                    else:
                        ended.append(Hypothesis(score=score, y_sequence=hyp.y_sequence[:], dec_state=hyp.dec_state,
                                                lm_state=hyp.lm_state, timestamp=hyp.timestamp[:],
                                                length=encoded_lengths))
                grown = []
                for j, hyp in enumerate(frontier):
                    for v, k in zip(top_v[j].tolist(), top_i[j].tolist()):
                        grown.append(Hypothesis(score=hyp.score + v, y_sequence=hyp.y_sequence + [int(non_blank[k])],
                                                dec_state=dec_states[j], lm_state=hyp.lm_state,
                                                timestamp=hyp.timestamp + [i], length=encoded_lengths))
                frontier = sorted(grown, key=lambda x: x.score, reverse=True)[:beam]
            kept = sorted(ended, key=lambda x: x.score, reverse=True)[:beam]
        return self.sort_nbest(kept)

    def align_length_sync_decoding(self, h: torch.Tensor, encoded_lengths: torch.Tensor,
                                   partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """Alignment-length synchronous decoding (Saon et al. 2020): step i extends every hypothesis by one arc,
        so a hypothesis with u tokens sits on frame i - u; `alsd_max_target_len` bounds u (a float: per frame)."""
        if partial_hypotheses is not None:
            raise ValueError("partial_hypotheses are not supported by the `alsd` search")
        beam = min(self.beam_size, self.vocab_size)
        non_blank = torch.tensor([i for i in range(self.vocab_size + 1) if i != self.blank], device=h.device)
        h = h[0]
        n_frames = int(encoded_lengths)
        max_len = self.alsd_max_target_length
        u_max = int(max_len * n_frames) if isinstance(max_len, float) else int(max_len)
        init_state = self.decoder.initialize_state(torch.zeros(beam, device=h.device, dtype=h.dtype))
        kept = [Hypothesis(y_sequence=[self.blank], score=0.0, dec_state=self.decoder.batch_select_state(init_state, 0),
                           timestamp=[-1], length=0)]
        final: List[Hypothesis] = []
        cache = {}
        for i in range(n_frames + u_max):
            active = [x for x in kept if i - (len(x.y_sequence) - 1) <= n_frames - 1]
            if not active:
                break
            frames = [i - (len(x.y_sequence) - 1) for x in active]
            dec_out, dec_states = self.decoder.batch_score_hypothesis(active, cache)
            enc = torch.stack([h[t] for t in frames]).unsqueeze(1)
            logp = self._logp(enc, torch.stack(dec_out))[:, 0, 0, :]
            top_v, top_i = logp[:, non_blank].topk(beam, dim=-1)
            grown = []
            for j, hyp in enumerate(active):
                ended = Hypothesis(score=hyp.score + float(logp[j, self.blank]), y_sequence=hyp.y_sequence[:],
                                   dec_state=hyp.dec_state, lm_state=hyp.lm_state, timestamp=hyp.timestamp[:], length=i)
                grown.append(ended)
                if frames[j] == n_frames - 1:
                    final.append(ended)
                for v, k in zip(top_v[j].tolist(), top_i[j].tolist()):
                    grown.append(Hypothesis(score=hyp.score + v, y_sequence=hyp.y_sequence + [int(non_blank[k])],
                                            dec_state=dec_states[j], lm_state=hyp.lm_state,
                                            timestamp=hyp.timestamp + [frames[j]], length=i))
            kept = self.recombine_hypotheses(sorted(grown, key=lambda x: x.score, reverse=True)[:beam])
        return self.sort_nbest(final) if final else kept

    # ------------------------------------------------------------------ mAES
    def prefix_search(self, hypotheses: List[Hypothesis], enc_out: torch.Tensor, prefix_alpha: int
                      ) -> List[Hypothesis]:
        """Add to each hypothesis the probability of reaching it from its (up to `prefix_alpha` shorter)
        prefixes within this frame; `hypotheses` are sorted longest first."""
        for j, long_hyp in enumerate(hypotheses[:-1]):
            for short_hyp in hypotheses[j + 1:]:
                n_long, n_short = len(long_hyp.y_sequence), len(short_hyp.y_sequence)
                if is_prefix(long_hyp.y_sequence, short_hyp.y_sequence) and n_long - n_short <= prefix_alpha:
                    logp = self._logp(enc_out, short_hyp.dec_out[-1])[0, 0, 0, :]
                    score = short_hyp.score + float(logp[long_hyp.y_sequence[n_short]])
                    for k in range(n_short, n_long - 1):
                        logp = self._logp(enc_out, long_hyp.dec_out[k])[0, 0, 0, :]
                        score += float(logp[long_hyp.y_sequence[k + 1]])
                    long_hyp.score = float(_logaddexp(long_hyp.score, score))
        return hypotheses

    def modified_adaptive_expansion_search(self, h: torch.Tensor, encoded_lengths: torch.Tensor,
                                           partial_hypotheses: Optional[Hypothesis] = None) -> List[Hypothesis]:
        """mAES (Kim et al. 2020): up to `maes_num_steps` batched label expansions a frame, pruned by value."""
        if partial_hypotheses is not None:
            raise ValueError("partial_hypotheses are not supported by the `maes` search")
        h = h[0]
        beam = min(self.beam_size, self.vocab_size)
        init_state = self.decoder.initialize_state(torch.zeros(1, device=h.device, dtype=h.dtype))
        init = Hypothesis(y_sequence=[self.blank], score=0.0, dec_state=self.decoder.batch_select_state(init_state, 0),
                          timestamp=[-1], length=0)
        cache = {}
        dec_out, dec_states = self.decoder.batch_score_hypothesis([init], cache)
        kept = [Hypothesis(y_sequence=[self.blank], score=0.0, dec_state=dec_states[0], dec_out=[dec_out[0]],
                           timestamp=[-1], length=0)]
        if self.preserve_alignments:
            kept[0].alignments = [[]]
        for t in range(int(encoded_lengths)):
            enc_t = h[t: t + 1].unsqueeze(0)
            hyps = self.prefix_search(sorted(kept, key=lambda x: len(x.y_sequence), reverse=True), enc_t,
                                      prefix_alpha=self.maes_prefix_alpha)
            kept = []
            blanks = []
            seen = [x.y_sequence for x in hyps]
            for n in range(self.maes_num_steps):
                logp = self._logp(enc_t, torch.stack([x.dec_out[-1] for x in hyps]))[:, 0, 0, :]
                top_logp, top_idx = logp.topk(self.max_candidates, dim=-1)
                expansions = select_k_expansions(hyps, top_idx, top_logp, self.maes_expansion_gamma,
                                                 self.maes_expansion_beta)
                grown = []
                for i, hyp in enumerate(hyps):
                    for k, score in expansions[i]:
                        new = Hypothesis(y_sequence=hyp.y_sequence[:], score=score, dec_out=hyp.dec_out[:],
                                         dec_state=hyp.dec_state, lm_state=hyp.lm_state, lm_scores=hyp.lm_scores,
                                         timestamp=hyp.timestamp[:], length=t)
                        if k == self.blank:
                            blanks.append(new)
                        elif hyp.y_sequence + [k] not in seen:
                            new.y_sequence.append(k)
                            new.timestamp.append(t)
                            grown.append(new)
                        if self.preserve_alignments:
                            new.alignments = copy.deepcopy(hyp.alignments)
                            label = self.blank if k == self.blank else new.y_sequence[-1]
                            new.alignments[-1].append((logp[i].clone().cpu(), torch.tensor(label, dtype=torch.int32)))
                if not grown:
                    kept = sorted(blanks, key=lambda x: x.score, reverse=True)[:beam]
                    self._next_frame_alignments(kept)
                    break
                dec_out, dec_states = self.decoder.batch_score_hypothesis(grown, cache)
                if n < self.maes_num_steps - 1:
                    for i, hyp in enumerate(grown):
                        hyp.dec_out.append(dec_out[i])
                        hyp.dec_state = dec_states[i]
                    hyps = grown[:]
                    self._next_frame_alignments(hyps)
                else:
                    final_logp = self._logp(enc_t, torch.stack(dec_out))[:, 0, 0, :]
                    for i, hyp in enumerate(grown):
                        hyp.score += float(final_logp[i, self.blank])
                        hyp.dec_out.append(dec_out[i])
                        hyp.dec_state = dec_states[i]
                        if self.preserve_alignments:  # the closing blank, so each frame keeps its own list
                            hyp.alignments[-1].append((final_logp[i].clone().cpu(),
                                                       torch.tensor(self.blank, dtype=torch.int32)))
                    kept = sorted(blanks + grown, key=lambda x: x.score, reverse=True)[:beam]
                    self._next_frame_alignments(kept)
        if self.preserve_alignments:
            for x in kept:
                if len(x.alignments[-1]) == 0:
                    del x.alignments[-1]
        return self.sort_nbest(kept)

    def _next_frame_alignments(self, hyps: List[Hypothesis]) -> None:
        if self.preserve_alignments:
            for x in hyps:
                if int(x.alignments[-1][-1][1]) == self.blank:
                    x.alignments.append([])

    def recombine_hypotheses(self, hypotheses: List[Hypothesis]) -> List[Hypothesis]:
        """Merge hypotheses with the same token sequence, adding their probabilities."""
        final: List[Hypothesis] = []
        for hyp in hypotheses:
            for f in final:
                if f.y_sequence == hyp.y_sequence:
                    f.score = float(_logaddexp(f.score, hyp.score))
                    break
            else:
                final.append(hyp)
        return final


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@dataclass
class BeamRNNTInferConfig:
    """NeMo's `decoding.beam` fields for transducer beam search, with NeMo's defaults."""

    beam_size: int = 4
    search_type: str = "default"
    score_norm: bool = True
    return_best_hypothesis: bool = True
    tsd_max_sym_exp_per_step: Optional[int] = 50
    alsd_max_target_len: float = 1.0
    nsc_max_timesteps_expansion: int = 1
    nsc_prefix_alpha: int = 1
    maes_num_steps: int = 2
    maes_prefix_alpha: int = 1
    maes_expansion_gamma: float = 2.3
    maes_expansion_beta: int = 2
    language_model: Optional[Dict[str, Any]] = None
    softmax_temperature: float = 1.0
    preserve_alignments: bool = False
    ngram_lm_model: Optional[str] = None
    ngram_lm_alpha: float = 0.0
    hat_subtract_ilm: bool = False
    hat_ilm_weight: float = 0.0
    max_symbols_per_step: Optional[int] = 10
    blank_lm_score_mode: Optional[str] = "lm_weighted_full"
    pruning_mode: Optional[str] = "late"
    allow_cuda_graphs: Optional[bool] = True
