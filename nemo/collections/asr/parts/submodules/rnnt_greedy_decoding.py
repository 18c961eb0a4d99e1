"""Greedy transducer decoding: RNN-T and TDT, one utterance at a time (`greedy`) or batched
label-looping (`greedy_batch`).

Label looping keeps, per utterance, a frame index and the prediction-net output of the last emitted
token; every outer step finds each utterance's next non-blank token (advancing over blank frames in
an inner loop), then runs the prediction net once for the whole batch. TDT adds a duration head:
the frame index advances by the predicted duration (a blank never advances by 0).
"""

from dataclasses import dataclass, field
from typing import List, Optional

import torch

from nemo.collections.asr.parts.submodules.decoding_configs import BoostingTreeModelConfig, ConfidenceMethodConfig
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis
from nemo.collections.common.parts.rnn import label_collate

__all__ = [
    "GreedyRNNTInfer",
    "GreedyBatchedRNNTInfer",
    "GreedyTDTInfer",
    "GreedyBatchedTDTInfer",
    "GreedyRNNTInferConfig",
    "GreedyBatchedRNNTInferConfig",
]


def pack_hypotheses(hypotheses: List[Hypothesis], logitlen: torch.Tensor) -> List[Hypothesis]:
    """y_sequence as int64 tensors, `length` = the encoded length, decoder states on the CPU."""
    lengths = logitlen.to("cpu") if hasattr(logitlen, "cpu") else logitlen
    for i, hyp in enumerate(hypotheses):
        ys = hyp.y_sequence
        hyp.y_sequence = ys.to(torch.long) if isinstance(ys, torch.Tensor) else torch.tensor(ys, dtype=torch.long)
        hyp.length = lengths[i]
        if hyp.dec_state is not None:
            hyp.dec_state = _states_to_device(hyp.dec_state)
    return hypotheses


def _states_to_device(state, device="cpu"):
    if torch.is_tensor(state):
        return state.to(device)
    if isinstance(state, (list, tuple)):
        return tuple(_states_to_device(s, device) for s in state)
    return state


class _GreedyRNNTInfer:
    """Shared parts: the decoder/joint pair, blank (= SOS) index, symbol limit, prediction and joint steps."""

    def __init__(
        self,
        decoder_model,
        joint_model,
        blank_index: int,
        max_symbols_per_step: Optional[int] = None,
        preserve_alignments: bool = False,
        preserve_frame_confidence: bool = False,
        confidence_method_cfg=None,
    ):
        if max_symbols_per_step is not None and max_symbols_per_step <= 0:
            raise ValueError(f"Expected max_symbols_per_step > 0 (or None), got {max_symbols_per_step}")
        if preserve_frame_confidence:
            raise ValueError("preserve_frame_confidence (per-frame confidence) is not supported by this "
                             "implementation's transducer decoding; set it to false")
        self.decoder = decoder_model
        self.joint = joint_model
        self._blank_index = int(blank_index)
        self._SOS = self._blank_index
        self.max_symbols = max_symbols_per_step
        self.preserve_alignments = bool(preserve_alignments)
        self.preserve_frame_confidence = False

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    @torch.no_grad()
    def _pred_step(self, label, hidden, add_sos: bool = False, batch_size: Optional[int] = None):
        """Prediction net on one label (an int, a (B, 1) tensor, or SOS) from state `hidden`."""
        if isinstance(label, torch.Tensor):
            label = label.long()
        elif label == self._SOS:
            return self.decoder.predict(None, hidden, add_sos=add_sos, batch_size=batch_size)
        else:
            label = label_collate([[label]])
        return self.decoder.predict(label, hidden, add_sos=add_sos, batch_size=batch_size)

    def _joint_step(self, enc, pred, log_normalize: Optional[bool] = None):
        """(B, 1, H1), (B, 1, H2) -> (B, 1, 1, C); log-normalised on the CPU when log_normalize is None."""
        with torch.no_grad():
            logits = self.joint.joint(enc, pred)
            if (log_normalize is None and not logits.is_cuda) or log_normalize:
                logits = logits.log_softmax(dim=-1)
        return logits

    def _run_eval(self, fn, encoder_output, encoded_lengths, partial_hypotheses):
        decoder_training, joint_training = self.decoder.training, self.joint.training
        try:
            self.decoder.eval()
            self.joint.eval()
            with torch.inference_mode():
                return fn(encoder_output.transpose(1, 2), encoded_lengths, partial_hypotheses)
        finally:
            self.decoder.train(decoder_training)
            self.joint.train(joint_training)

    def _start_hypothesis(self, partial: Optional[Hypothesis], device, with_durations: bool) -> Hypothesis:
        hyp = Hypothesis(score=0.0, y_sequence=[], dec_state=None, timestamp=[], last_token=None,
                         token_duration=[] if with_durations else None)
        if partial is not None:
            hyp.last_token = partial.last_token
            ys = partial.y_sequence
            hyp.y_sequence = ys.cpu().tolist() if isinstance(ys, torch.Tensor) else list(ys)
            if partial.dec_state is not None:
                hyp.dec_state = _states_to_device(self.decoder.batch_concat_states([partial.dec_state]), device)
        if self.preserve_alignments:
            hyp.alignments = [[]]
        return hyp

    def _last_label(self, hyp: Hypothesis):
        if hyp.last_token is None and hyp.dec_state is None:
            return self._SOS
        return label_collate([[hyp.last_token]])


class GreedyRNNTInfer(_GreedyRNNTInfer):
    """RNN-T greedy decoding, one utterance at a time: up to `max_symbols` tokens per frame."""

    def forward(self, encoder_output: torch.Tensor, encoded_lengths: torch.Tensor, partial_hypotheses=None):
        """(B, D, T) encoder output -> ([Hypothesis, ...],)."""
        return (self._run_eval(self._decode_batch, encoder_output, encoded_lengths, partial_hypotheses),)

    def _decode_batch(self, x, lengths, partial_hypotheses):
        hyps = [self._greedy_decode(x[b].unsqueeze(1), lengths[b],
                                    partial_hypotheses[b] if partial_hypotheses is not None else None)
                for b in range(x.size(0))]
        return pack_hypotheses(hyps, lengths)

    @torch.no_grad()
    def _greedy_decode(self, x: torch.Tensor, out_len: torch.Tensor, partial_hypotheses=None) -> Hypothesis:
        hyp = self._start_hypothesis(partial_hypotheses, x.device, with_durations=False)
        for t in range(int(out_len)):
            f = x.narrow(dim=0, start=t, length=1)
            symbols = 0
            while self.max_symbols is None or symbols < self.max_symbols:
                g, hidden = self._pred_step(self._last_label(hyp), hyp.dec_state)
                logp = self._joint_step(f, g)[0, 0, 0, :].float()
                v, k = logp.max(0)
                k = int(k)
                if self.preserve_alignments:
                    hyp.alignments[-1].append((logp.cpu(), torch.tensor(k, dtype=torch.int32)))
                symbols += 1
                if k == self._blank_index:
                    break
                hyp.y_sequence.append(k)
                hyp.score += float(v)
                hyp.timestamp.append(t)
                hyp.dec_state = hidden
                hyp.last_token = k
            if self.preserve_alignments:
                hyp.alignments.append([])
        if self.preserve_alignments and len(hyp.alignments[-1]) == 0:
            del hyp.alignments[-1]
        hyp.dec_state = self.decoder.batch_select_state(hyp.dec_state, 0)
        return hyp


class GreedyTDTInfer(_GreedyRNNTInfer):
    """TDT greedy decoding, one utterance at a time: the duration head says how many frames to skip."""

    def __init__(self, decoder_model, joint_model, blank_index: int, durations: list,
                 max_symbols_per_step: Optional[int] = None, preserve_alignments: bool = False,
                 preserve_frame_confidence: bool = False, include_duration: bool = False,
                 include_duration_confidence: bool = False, confidence_method_cfg=None):
        super().__init__(decoder_model, joint_model, blank_index, max_symbols_per_step, preserve_alignments,
                         preserve_frame_confidence, confidence_method_cfg)
        self.durations = [int(d) for d in durations]
        self.include_duration = bool(include_duration)
        self.include_duration_confidence = bool(include_duration_confidence)

    def forward(self, encoder_output: torch.Tensor, encoded_lengths: torch.Tensor, partial_hypotheses=None):
        return (self._run_eval(self._decode_batch, encoder_output, encoded_lengths, partial_hypotheses),)

    def _decode_batch(self, x, lengths, partial_hypotheses):
        hyps = [self._greedy_decode(x[b].unsqueeze(1), lengths[b],
                                    partial_hypotheses[b] if partial_hypotheses is not None else None)
                for b in range(x.size(0))]
        return pack_hypotheses(hyps, lengths)

    @torch.no_grad()
    def _greedy_decode(self, x: torch.Tensor, out_len: torch.Tensor, partial_hypotheses=None) -> Hypothesis:
        hyp = self._start_hypothesis(partial_hypotheses, x.device, with_durations=True)
        n_dur = len(self.durations)
        t, limit = 0, int(out_len)
        while t < limit:
            f = x.narrow(dim=0, start=t, length=1)
            symbols, skip, again = 0, 0, True
            while again and (self.max_symbols is None or symbols < self.max_symbols):
                g, hidden = self._pred_step(self._last_label(hyp), hyp.dec_state)
                logits = self._joint_step(f, g, log_normalize=False)[0, 0, 0, :]
                logp = logits[:-n_dur].float()
                v, k = logp.max(0)
                k = int(k)
                skip = self.durations[int(logits[-n_dur:].argmax())]
                if self.preserve_alignments:
                    hyp.alignments[-1].append((logp.cpu(), torch.tensor(k, dtype=torch.int32)))
                if k == self._blank_index:
                    skip = max(skip, 1)  # a blank always moves on (the same step would repeat otherwise)
                else:
                    hyp.y_sequence.append(k)
                    hyp.score += float(v)
                    hyp.timestamp.append(t)
                    hyp.dec_state = hidden
                    hyp.last_token = k
                    if self.include_duration:
                        hyp.token_duration.append(skip)
                symbols += 1
                t += skip
                again = skip == 0
            if self.preserve_alignments:
                hyp.alignments.extend([] for _ in range(max(skip, 1)))
            if again:  # max_symbols tokens of duration 0 on this frame: move on
                t += 1
        if self.preserve_alignments and len(hyp.alignments[-1]) == 0:
            del hyp.alignments[-1]
        hyp.dec_state = self.decoder.batch_select_state(hyp.dec_state, 0)
        return hyp


class _LabelLooping(_GreedyRNNTInfer):
    """Batched label-looping search shared by RNN-T (durations None) and TDT."""

    durations: Optional[List[int]] = None
    include_duration: bool = False

    def forward(self, encoder_output: torch.Tensor, encoded_lengths: torch.Tensor, partial_hypotheses=None):
        """(B, D, T) encoder output -> ([Hypothesis, ...],) with tensor y_sequence/timestamp/token_duration."""
        if partial_hypotheses is not None:
            raise ValueError("greedy_batch decoding does not continue partial hypotheses here; "
                             "use strategy='greedy' for streaming-style partial decoding")
        return (self._run_eval(self._loop_labels, encoder_output, encoded_lengths, None),)

    @torch.no_grad()
    def _loop_labels(self, x: torch.Tensor, out_len: torch.Tensor, _partial=None) -> List[Hypothesis]:
        batch, max_time = x.shape[0], x.shape[1]
        device = x.device
        out_len = out_len.to(device=device, dtype=torch.long)
        enc = self.joint.project_encoder(x)
        blank = self._blank_index
        n_dur = len(self.durations) if self.durations is not None else 0
        n_tok = self.joint.num_classes_with_blank - n_dur
        dur_values = torch.tensor(self.durations, dtype=torch.long, device=device) if n_dur else None
        rows = torch.arange(batch, device=device)
        last_t = (out_len - 1).clamp(min=0)
        time = torch.zeros(batch, dtype=torch.long, device=device)
        safe_t = torch.minimum(time, last_t)
        active = time < out_len
        per_step = self.max_symbols if self.max_symbols is not None else 2
        capacity = max(1, max_time * per_step + 1)
        labels_out = torch.zeros(batch, capacity, dtype=torch.long, device=device)
        times_out = torch.zeros_like(labels_out)
        durs_out = torch.zeros_like(labels_out)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)
        total = torch.zeros(batch, dtype=enc.dtype, device=device)
        last_nb_time = torch.full((batch,), -1, dtype=torch.long, device=device)
        repeats = torch.zeros(batch, dtype=torch.long, device=device)
        align = [[] for _ in range(batch)] if self.preserve_alignments else None

        g, state = self.decoder.predict(None, None, add_sos=False, batch_size=batch)
        dec = self.joint.project_prednet(g)

        def step(mask):
            logits = self.joint.joint_after_projection(enc[rows, safe_t].unsqueeze(1), dec)[:, 0, 0, :]
            scores, labels = logits[:, :n_tok].max(dim=-1)
            if n_dur:
                durations = dur_values[logits[:, n_tok:].argmax(dim=-1)]
                durations = torch.where((labels == blank) & (durations == 0), torch.ones_like(durations), durations)
            else:
                durations = (labels == blank).long()
            if align is not None:
                for b in mask.nonzero().flatten().tolist():
                    align[b].append((int(safe_t[b]), logits[b, :n_tok].float().cpu(), int(labels[b])))
            return scores, labels, durations

        while bool(active.any()):
            active_prev = active.clone()
            scores, labels, durations = step(active)
            current_t = time.clone()
            time = time + durations * active
            safe_t = torch.minimum(time, last_t)
            active = time < out_len
            advance = active & (labels == blank)
            while bool(advance.any()):
                current_t = torch.where(advance, time, current_t)
                more_scores, more_labels, more_durations = step(advance)
                labels = torch.where(advance, more_labels, labels)
                scores = torch.where(advance, more_scores, scores)
                durations = torch.where(advance, more_durations, durations)
                time = torch.where(advance, time + more_durations, time)
                safe_t = torch.minimum(time, last_t)
                active = time < out_len
                advance = active & (labels == blank)
            found = active_prev & (labels != blank)
            if int(lengths.max()) >= capacity:
                grow = torch.zeros(batch, capacity, dtype=torch.long, device=device)
                labels_out, times_out, durs_out = (torch.cat([t_, grow], dim=1) for t_ in (labels_out, times_out, durs_out))
                capacity *= 2
            labels_out[rows, lengths] = labels
            times_out[rows, lengths] = current_t
            durs_out[rows, lengths] = durations
            lengths = lengths + found
            total = total + torch.where(found, scores, torch.zeros_like(scores))
            same_frame = found & (current_t == last_nb_time)
            repeats = torch.where(found, torch.where(same_frame, repeats + 1, torch.ones_like(repeats)), repeats)
            last_nb_time = torch.where(found, current_t, last_nb_time)
            if bool(found.any()):
                safe_labels = torch.where(found, labels, torch.zeros_like(labels))
                g, new_state = self.decoder.predict(safe_labels.unsqueeze(1), state, add_sos=False, batch_size=batch)
                new_dec = self.joint.project_prednet(g)
                keep = found.view(-1, 1, 1)
                dec = torch.where(keep, new_dec, dec)
                state = tuple(torch.where(found.view(1, -1, 1), n, o) for n, o in zip(new_state, state)) \
                    if state is not None else new_state
            if self.max_symbols is not None:
                force = active & found & (repeats >= self.max_symbols) & (last_nb_time == time)
                time = time + force.long()
                safe_t = torch.minimum(time, last_t)
                active = time < out_len
        return self._to_hypotheses(labels_out, times_out, durs_out, lengths, total, out_len, align)

    def _to_hypotheses(self, labels_out, times_out, durs_out, lengths, total, out_len, align) -> List[Hypothesis]:
        labels_out, times_out, durs_out = labels_out.cpu(), times_out.cpu(), durs_out.cpu()
        lengths, scores, out_len = lengths.cpu().tolist(), total.float().cpu(), out_len.cpu()
        hyps = []
        for b, n in enumerate(lengths):
            hyp = Hypothesis(
                score=float(scores[b]),
                y_sequence=labels_out[b, :n].clone(),
                timestamp=times_out[b, :n].clone(),
                token_duration=durs_out[b, :n].clone() if self.include_duration else torch.empty(0),
                length=out_len[b],
            )
            if align is not None:
                hyp.alignments = _group_alignments(align[b])
            hyps.append(hyp)
        return hyps


def _group_alignments(steps) -> List[list]:
    """[(frame, logp, label), ...] -> per-frame lists of (logp, label), as the per-utterance decoder keeps them."""
    frames: List[list] = []
    last = None
    for t, logp, label in steps:
        if t != last:
            frames.append([])
            last = t
        frames[-1].append((logp, torch.tensor(label, dtype=torch.int32)))
    return frames


class GreedyBatchedRNNTInfer(_LabelLooping):
    """RNN-T greedy decoding of a whole batch by label looping (NeMo's default `greedy_batch`)."""

    def __init__(self, decoder_model, joint_model, blank_index: int, max_symbols_per_step: Optional[int] = None,
                 preserve_alignments: bool = False, preserve_frame_confidence: bool = False,
                 confidence_method_cfg=None, loop_labels: bool = True, use_cuda_graph_decoder: bool = True,
                 **unused):
        super().__init__(decoder_model, joint_model, blank_index, max_symbols_per_step, preserve_alignments,
                         preserve_frame_confidence, confidence_method_cfg)
        self.loop_labels = bool(loop_labels)
        self.use_cuda_graph_decoder = bool(use_cuda_graph_decoder)


class GreedyBatchedTDTInfer(_LabelLooping):
    """TDT greedy decoding of a whole batch by label looping."""

    def __init__(self, decoder_model, joint_model, blank_index: int, durations: list,
                 max_symbols_per_step: Optional[int] = None, preserve_alignments: bool = False,
                 preserve_frame_confidence: bool = False, include_duration: bool = False,
                 include_duration_confidence: bool = False, confidence_method_cfg=None,
                 use_cuda_graph_decoder: bool = True, **unused):
        super().__init__(decoder_model, joint_model, blank_index, max_symbols_per_step, preserve_alignments,
                         preserve_frame_confidence, confidence_method_cfg)
        self.durations = [int(d) for d in durations]
        self.include_duration = bool(include_duration)
        self.include_duration_confidence = bool(include_duration_confidence)
        self.use_cuda_graph_decoder = bool(use_cuda_graph_decoder)


@dataclass
class GreedyRNNTInferConfig:
    """Options of per-utterance greedy decoding (`decoding.greedy`)."""

    max_symbols_per_step: Optional[int] = 10
    preserve_alignments: bool = False
    preserve_frame_confidence: bool = False
    tdt_include_token_duration: bool = False
    tdt_include_duration_confidence: bool = False
    confidence_method_cfg: Optional[ConfidenceMethodConfig] = field(default_factory=ConfidenceMethodConfig)


@dataclass
class GreedyBatchedRNNTInferConfig:
    """Options of batched greedy decoding (`decoding.greedy`), NeMo's layout."""

    max_symbols_per_step: Optional[int] = 10
    preserve_alignments: bool = False
    preserve_frame_confidence: bool = False
    tdt_include_token_duration: bool = False
    tdt_include_duration_confidence: bool = False
    confidence_method_cfg: Optional[ConfidenceMethodConfig] = field(default_factory=ConfidenceMethodConfig)
    loop_labels: bool = True
    use_cuda_graph_decoder: bool = True
    ngram_lm_model: Optional[str] = None
    ngram_lm_alpha: float = 0.0
    boosting_tree: BoostingTreeModelConfig = field(default_factory=BoostingTreeModelConfig)
    boosting_tree_alpha: float = 0.0
    enable_per_stream_biasing: bool = False
