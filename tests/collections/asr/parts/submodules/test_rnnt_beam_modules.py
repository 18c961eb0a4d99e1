"""Transducer beam search on the project's RNNTDecoder/RNNTJoint and through RNNTDecoding(strategy='beam')."""

import pytest
import torch

from nemo.collections.asr.modules.rnnt import RNNTDecoder, RNNTJoint
from nemo.collections.asr.parts.submodules.rnnt_beam_decoding import BeamRNNTInfer
from nemo.collections.asr.parts.submodules.rnnt_decoding import RNNTDecoding
from nemo.collections.asr.parts.submodules.rnnt_greedy_decoding import GreedyRNNTInfer, GreedyTDTInfer
from nemo.collections.asr.parts.submodules.tdt_beam_decoding import BeamTDTInfer
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

VOCAB = list("abcde")
ENC, PRED = 8, 6


def _modules(seed, durations=(), blank_bias=0.0):
    torch.manual_seed(seed)
    dec = RNNTDecoder(prednet={"pred_hidden": PRED, "pred_rnn_layers": 1}, vocab_size=len(VOCAB))
    joint = RNNTJoint(jointnet={"encoder_hidden": ENC, "pred_hidden": PRED, "joint_hidden": 10,
                                "activation": "relu"}, num_classes=len(VOCAB), num_extra_outputs=len(durations))
    with torch.no_grad():
        for p in joint.parameters():
            p.mul_(3.0)
        joint.joint_net[-1].bias[len(VOCAB)] += blank_bias
    return dec.eval(), joint.eval()


def _encoder(seed, B=2, T=9):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, ENC, T, generator=g), torch.tensor([T, T - 3][:B])


@pytest.mark.parametrize("seed", [0, 1])
def test_beam_one_equals_greedy_on_rnnt_modules(seed):
    dec, joint = _modules(seed, blank_bias=-2.0)
    enc, lengths = _encoder(seed)
    (greedy,) = GreedyRNNTInfer(dec, joint, blank_index=len(VOCAB), max_symbols_per_step=4)(
        encoder_output=enc, encoded_lengths=lengths)
    (beam,) = BeamRNNTInfer(dec, joint, beam_size=1, max_symbols_per_step=4)(encoder_output=enc,
                                                                           encoded_lengths=lengths)
    several = False
    for g, b in zip(greedy, beam):
        assert b.y_sequence.tolist() == g.y_sequence.tolist()
        assert list(b.timestamp) == [int(t) for t in g.timestamp]
        several |= len(set(b.timestamp)) < len(b.timestamp)
    assert several and sum(len(b.y_sequence) for b in beam) > 0


def test_default_beam_is_at_least_as_likely_as_greedy_on_rnnt_modules():
    dec, joint = _modules(2, blank_bias=0.5)
    enc, lengths = _encoder(2)
    (greedy,) = BeamRNNTInfer(dec, joint, beam_size=1)(encoder_output=enc, encoded_lengths=lengths)
    for search_type in ("default", "maes"):
        (beam,) = BeamRNNTInfer(dec, joint, beam_size=3, search_type=search_type, score_norm=False,
                                maes_expansion_beta=1)(encoder_output=enc, encoded_lengths=lengths)
        for utt, (g, b) in enumerate(zip(greedy, beam)):
            assert isinstance(b, Hypothesis) and len(b.timestamp) == len(b.y_sequence)
            # greedy's score sums token log-probs only; add its blanks to compare full alignment scores
            assert b.score >= _alignment_score(dec, joint, enc[utt: utt + 1], int(lengths[utt]), g) - 1e-4


def _alignment_score(dec, joint, enc, length, hyp):
    """Log-prob of the alignment greedy took: its tokens on their frames, one blank closing every frame."""
    f = enc.transpose(1, 2)
    tokens, frames = hyp.y_sequence.tolist(), list(hyp.timestamp)
    score, n = 0.0, 0
    with torch.no_grad():
        g, state = dec.predict(None, state=None, add_sos=False, batch_size=1)
        for t in range(length):
            while True:
                logp = torch.log_softmax(joint.joint(f[:, t: t + 1], g), -1)[0, 0, 0]
                if n < len(tokens) and frames[n] == t:
                    score += float(logp[tokens[n]])
                    g, state = dec.predict(torch.tensor([[tokens[n]]]), state=state, add_sos=False, batch_size=1)
                    n += 1
                else:
                    score += float(logp[len(VOCAB)])
                    break
    return score


def test_rnnt_decoding_beam_strategy_gives_texts_and_nbest():
    dec, joint = _modules(3, blank_bias=1.0)
    enc, lengths = _encoder(3)
    cfg = {"strategy": "beam", "beam": {"beam_size": 3, "return_best_hypothesis": False}}
    decoding = RNNTDecoding(cfg, decoder=dec, joint=joint, vocabulary=VOCAB)
    nbest = decoding.rnnt_decoder_predictions_tensor(encoder_output=enc, encoded_lengths=lengths,
                                                     return_hypotheses=True)
    assert len(nbest) == 2 and all(len(n) >= 3 for n in nbest)
    for hyps in nbest:
        for h in hyps:
            assert h.text == "".join(VOCAB[i] for i in h.y_sequence.tolist())
    best = RNNTDecoding({"strategy": "beam", "beam": {"beam_size": 3}}, decoder=dec, joint=joint,
                        vocabulary=VOCAB).rnnt_decoder_predictions_tensor(encoder_output=enc, encoded_lengths=lengths)
    best = best[0] if isinstance(best, tuple) else best
    assert [getattr(h, "text", h) for h in best] == [n[0].text for n in nbest]


def test_tdt_beam_on_tdt_modules_and_through_decoding():
    durations = [0, 1, 2, 3]
    dec, joint = _modules(4, durations=durations, blank_bias=-1.0)
    enc, lengths = _encoder(4)
    (greedy,) = GreedyTDTInfer(dec, joint, blank_index=len(VOCAB), durations=durations)(
        encoder_output=enc, encoded_lengths=lengths)
    for search_type in ("default", "maes"):
        (beam,) = BeamTDTInfer(dec, joint, durations=durations, beam_size=3, search_type=search_type,
                               maes_expansion_beta=1)(encoder_output=enc, encoded_lengths=lengths)
        for b, n in zip(beam, lengths.tolist()):
            assert len(b.timestamp) == len(b.y_sequence) == len(b.token_duration)
            assert all(0 <= t < n for t in b.timestamp) and b.last_frame >= n
    assert any(len(g.y_sequence) for g in greedy)
    cfg = {"strategy": "beam", "model_type": "tdt", "durations": durations, "beam": {"beam_size": 2}}
    decoding = RNNTDecoding(cfg, decoder=dec, joint=joint, vocabulary=VOCAB)
    out = decoding.rnnt_decoder_predictions_tensor(encoder_output=enc, encoded_lengths=lengths)
    out = out[0] if isinstance(out, tuple) else out
    assert len(out) == 2


def test_unsupported_beam_strategies_through_decoding_name_themselves():
    dec, joint = _modules(5)
    with pytest.raises(ValueError, match="maes_batch"):
        RNNTDecoding({"strategy": "maes_batch", "model_type": "tdt", "durations": [0, 1]}, decoder=dec, joint=joint,
                     vocabulary=VOCAB)
