"""Greedy RNN-T / TDT decoding against a plain per-utterance reference, batching invariance, max_symbols,
and char/word/segment timestamps (TDT: punctuation gets zero duration)."""

import re

import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.modules import RNNTDecoder, RNNTJoint
from nemo.collections.asr.parts.submodules.rnnt_decoding import RNNTDecoding
from nemo.collections.asr.parts.submodules.rnnt_greedy_decoding import (
    GreedyBatchedRNNTInfer,
    GreedyBatchedTDTInfer,
    GreedyRNNTInfer,
    GreedyTDTInfer,
)
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

VOCAB = ["a", "b", "c", " ", "'", "."]
BLANK = len(VOCAB)


def _nets(seed: int, n_dur: int = 0, blank_shift: float = 0.0, dur0_shift: float = 0.0):
    """A random prediction net + joint whose decisions depend on the frame (scaled biases shifted per test)."""
    torch.manual_seed(seed)
    dec = RNNTDecoder(prednet={"pred_hidden": 8, "pred_rnn_layers": 1}, vocab_size=len(VOCAB)).eval()
    joint = RNNTJoint(jointnet={"encoder_hidden": 6, "pred_hidden": 8, "joint_hidden": 10, "activation": "relu"},
                      num_classes=len(VOCAB), num_extra_outputs=n_dur, vocabulary=VOCAB).eval()
    with torch.no_grad():
        joint.enc.weight.mul_(4.0)
        joint.joint_net[-1].weight.mul_(3.0)
        joint.joint_net[-1].bias[BLANK] += blank_shift
        if n_dur:
            joint.joint_net[-1].bias[BLANK + 1] += dur0_shift
    return dec, joint


def _reference(dec, joint, enc, length, durations, max_symbols):
    """Label-looping semantics one utterance at a time, written out plainly: (ids, frames, durations, score)."""
    ids, frames, durs, score = [], [], [], 0.0
    t, label, state, on_frame = 0, None, None, 0
    n_dur = len(durations) if durations else 0
    with torch.no_grad():
        while t < length:
            y = None if label is None else torch.tensor([[label]])
            g, new_state = dec.predict(y, state, add_sos=False, batch_size=1)
            logits = joint.joint(enc[None, :, t : t + 1].transpose(1, 2), g)[0, 0, 0]
            tokens = logits[: logits.shape[0] - n_dur]
            k = int(tokens.argmax())
            d = durations[int(logits[-n_dur:].argmax())] if n_dur else (1 if k == BLANK else 0)
            if k == BLANK:
                t += max(d, 1)
                on_frame = 0
                continue
            ids.append(k), frames.append(t), durs.append(d)
            score += float(tokens[k])
            label, state = k, new_state
            on_frame = on_frame + 1 if d == 0 else 0
            t += d
            if d == 0 and max_symbols is not None and on_frame >= max_symbols:
                t, on_frame = t + 1, 0
    return ids, frames, durs, score


def _check_against_reference(hyps, dec, joint, enc, lengths, durations, max_symbols, with_durations):
    counts = {"multi": 0, "blank_frames": 0, "long": 0}
    for b, hyp in enumerate(hyps):
        ids, frames, durs, score = _reference(dec, joint, enc[b], int(lengths[b]), durations, max_symbols)
        assert list(map(int, hyp.y_sequence)) == ids
        assert list(map(int, hyp.timestamp)) == frames
        assert hyp.score == pytest.approx(score, abs=1e-4)
        assert int(hyp.length) == int(lengths[b])
        if with_durations:
            assert list(map(int, hyp.token_duration)) == durs
        counts["multi"] += sum(frames.count(f) >= 2 for f in set(frames))
        counts["blank_frames"] += int(lengths[b]) - len(set(frames))
        counts["long"] += sum(d > 1 for d in durs)
    return counts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rnnt_greedy_and_greedy_batch_match_reference(seed):
    dec, joint = _nets(seed, blank_shift=-0.5)
    torch.manual_seed(100 + seed)
    enc = torch.randn(4, 6, 15)
    lengths = torch.tensor([15, 9, 12, 0])
    batched = GreedyBatchedRNNTInfer(dec, joint, blank_index=BLANK, max_symbols_per_step=3)(
        encoder_output=enc, encoded_lengths=lengths)[0]
    single = GreedyRNNTInfer(dec, joint, blank_index=BLANK, max_symbols_per_step=3)(
        encoder_output=enc, encoded_lengths=lengths)[0]
    counts = _check_against_reference(batched, dec, joint, enc, lengths, None, 3, False)
    _check_against_reference(single, dec, joint, enc, lengths, None, 3, False)
    assert batched[3].y_sequence.numel() == 0
    assert counts["multi"] > 0 and counts["blank_frames"] > 0  # the case is not trivial


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tdt_greedy_and_greedy_batch_match_reference(seed):
    durations = [0, 1, 2, 3]
    dec, joint = _nets(seed, n_dur=4, blank_shift=0.3, dur0_shift=1.0)
    torch.manual_seed(200 + seed)
    enc = torch.randn(3, 6, 20)
    lengths = torch.tensor([20, 13, 17])
    batched = GreedyBatchedTDTInfer(dec, joint, blank_index=BLANK, durations=durations, max_symbols_per_step=2,
                                    include_duration=True)(encoder_output=enc, encoded_lengths=lengths)[0]
    single = GreedyTDTInfer(dec, joint, blank_index=BLANK, durations=durations, max_symbols_per_step=2,
                            include_duration=True)(encoder_output=enc, encoded_lengths=lengths)[0]
    counts = _check_against_reference(batched, dec, joint, enc, lengths, durations, 2, True)
    _check_against_reference(single, dec, joint, enc, lengths, durations, 2, True)
    assert counts["multi"] + counts["long"] > 0


def test_batched_decoding_is_independent_of_batch_composition():
    """Each utterance decodes the same alone and in a batch (TDT token durations included)."""
    durations = [0, 1, 2, 3]
    dec, joint = _nets(5, n_dur=4, blank_shift=0.3, dur0_shift=1.0)
    torch.manual_seed(7)
    enc = torch.randn(5, 6, 18)
    lengths = torch.tensor([18, 4, 11, 16, 1])
    infer = GreedyBatchedTDTInfer(dec, joint, blank_index=BLANK, durations=durations, max_symbols_per_step=3,
                                  include_duration=True)
    together = infer(encoder_output=enc, encoded_lengths=lengths)[0]
    for b in range(5):
        alone = infer(encoder_output=enc[b : b + 1, :, : int(lengths[b])], encoded_lengths=lengths[b : b + 1])[0][0]
        assert alone.y_sequence.tolist() == together[b].y_sequence.tolist()
        assert alone.timestamp.tolist() == together[b].timestamp.tolist()
        assert alone.token_duration.tolist() == together[b].token_duration.tolist()


def test_max_symbols_caps_tokens_per_frame():
    dec, joint = _nets(3, blank_shift=-50.0)  # blank never wins: every frame hits the cap
    enc = torch.randn(2, 6, 5)
    lengths = torch.tensor([5, 3])
    for infer in (GreedyBatchedRNNTInfer(dec, joint, blank_index=BLANK, max_symbols_per_step=2),
                  GreedyRNNTInfer(dec, joint, blank_index=BLANK, max_symbols_per_step=2)):
        hyps = infer(encoder_output=enc, encoded_lengths=lengths)[0]
        assert [list(map(int, h.timestamp)) for h in hyps] == [[0, 0, 1, 1, 2, 2, 3, 3, 4, 4], [0, 0, 1, 1, 2, 2]]
    with pytest.raises(ValueError, match="max_symbols_per_step"):
        GreedyRNNTInfer(dec, joint, blank_index=BLANK, max_symbols_per_step=0)


def _decoding(strategy="greedy_batch", tdt=False, timestamps=True, n_dur=0):
    dec, joint = _nets(0, n_dur=n_dur)
    cfg = {"strategy": strategy, "compute_timestamps": timestamps, "greedy": {"max_symbols": 3}}
    if tdt:
        cfg.update({"model_type": "tdt", "durations": [0, 1, 2, 3]})
    return RNNTDecoding(OmegaConf.create(cfg), dec, joint, VOCAB)


def test_tdt_timestamps_layout_and_zero_duration_punctuation():
    decoding = _decoding(tdt=True, n_dur=4)
    assert decoding.blank_id == BLANK and decoding.tdt_include_token_duration
    ids = [0, 1, 4, 2, 3, 2, 0, 5]  # "ab'c ca."
    hyp = Hypothesis(score=0.0, y_sequence=torch.tensor(ids), timestamp=torch.tensor([0, 2, 3, 5, 7, 8, 9, 11]),
                     token_duration=torch.tensor([2, 1, 2, 2, 1, 1, 2, 1]))
    hyp = decoding.decode_hypothesis([hyp])[0]
    assert hyp.text == "ab'c ca."
    ts = decoding.compute_rnnt_timestamps(hyp).timestamp
    assert ts["timestep"] == [0, 2, 3, 5, 7, 8, 9, 11]
    chars = [(c["char"], c["start_offset"], c["end_offset"]) for c in ts["char"]]
    # punctuation ("'" and ".") starts and ends where the previous token ended
    assert chars == [(["a"], 0, 2), (["b"], 2, 3), (["'"], 3, 3), (["c"], 5, 7), ([" "], 7, 8), (["c"], 8, 9),
                     (["a"], 9, 11), (["."], 11, 11)]
    assert [(w["word"], w["start_offset"], w["end_offset"]) for w in ts["word"]] == [("ab'c", 0, 7), ("ca.", 8, 11)]
    assert [(s["segment"], s["start_offset"], s["end_offset"]) for s in ts["segment"]] == [("ab'c ca.", 0, 11)]


def test_rnnt_timestamps_are_one_frame_per_token_and_segments_split_on_delimiters():
    decoding = _decoding()
    hyp = Hypothesis(score=0.0, y_sequence=torch.tensor([0, 5, 3, 1]), timestamp=torch.tensor([1, 1, 4, 6]))
    hyp = decoding.compute_rnnt_timestamps(decoding.decode_hypothesis([hyp])[0])
    assert hyp.text == "a. b"
    assert [(c["start_offset"], c["end_offset"]) for c in hyp.timestamp["char"]] == [(1, 2), (1, 2), (4, 5), (6, 7)]
    assert [s["segment"] for s in hyp.timestamp["segment"]] == ["a.", "b"]


def test_decoding_strategies_and_errors():
    assert isinstance(_decoding("greedy").decoding, GreedyRNNTInfer)
    assert isinstance(_decoding("greedy", tdt=True, n_dur=4).decoding, GreedyTDTInfer)
    assert isinstance(_decoding("greedy_batch", tdt=True, n_dur=4).decoding, GreedyBatchedTDTInfer)
    with pytest.raises(ValueError, match="Unsupported decoding strategy"):
        _decoding("viterbi")
    dec, joint = _nets(0)
    with pytest.raises(ValueError, match="preserve_frame_confidence"):
        RNNTDecoding(OmegaConf.create({"strategy": "greedy", "confidence_cfg": {"preserve_frame_confidence": True}}),
                     dec, joint, VOCAB)


def test_rnnt_decoder_predictions_tensor_texts_and_plain_hypotheses():
    decoding = _decoding(timestamps=False)
    torch.manual_seed(3)
    enc = torch.randn(2, 6, 7)
    full = decoding.rnnt_decoder_predictions_tensor(enc, torch.tensor([7, 5]), return_hypotheses=True)
    plain = decoding.rnnt_decoder_predictions_tensor(enc, torch.tensor([7, 5]))
    assert [h.text for h in full] == [h.text for h in plain]
    assert all(h.text == re.sub(r"\s([.'])", r"\1", "".join(VOCAB[i] for i in h.y_sequence.tolist())) for h in full)
    assert plain[0].timestamp == []  # plain hypotheses carry score, ids and text only


def test_hypothesis_has_nemo_fields_in_order():
    import dataclasses

    names = [f.name for f in dataclasses.fields(Hypothesis)]
    assert names == ["score", "y_sequence", "text", "dec_out", "dec_state", "timestamp", "alignments",
                     "frame_confidence", "token_confidence", "word_confidence", "length", "y", "lm_state", "lm_scores",
                     "ngram_lm_state", "tokens", "last_token", "token_duration", "last_frame", "biasing_cfg",
                     "non_blank_step_confidence_precomputed", "xatt_scores"]  # NeMo 3.0.0's dataclass
    assert Hypothesis(0.0, [1], text="two words").words == ["two", "words"]


def test_preserve_alignments_per_frame_in_both_searches():
    """RNN-T alignments: one list per frame of (log-probs, label) for every step, blanks included."""
    dec, joint = _nets(1, blank_shift=-0.5)
    torch.manual_seed(11)
    enc = torch.randn(2, 6, 9)
    lengths = torch.tensor([9, 6])
    kwargs = dict(blank_index=BLANK, max_symbols_per_step=3, preserve_alignments=True)
    batched = GreedyBatchedRNNTInfer(dec, joint, **kwargs)(encoder_output=enc, encoded_lengths=lengths)[0]
    single = GreedyRNNTInfer(dec, joint, **kwargs)(encoder_output=enc, encoded_lengths=lengths)[0]
    for b, (x, y) in enumerate(zip(batched, single)):
        assert len(x.alignments) == len(y.alignments) == int(lengths[b])
        assert [[int(lab) for _, lab in frame] for frame in x.alignments] == \
            [[int(lab) for _, lab in frame] for frame in y.alignments]
        emitted = [int(lab) for frame in x.alignments for _, lab in frame if int(lab) != BLANK]
        assert emitted == x.y_sequence.tolist()
        torch.testing.assert_close(x.alignments[0][0][0], y.alignments[0][0][0], atol=1e-5, rtol=0)
