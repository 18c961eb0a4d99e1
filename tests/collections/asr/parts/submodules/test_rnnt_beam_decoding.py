"""Transducer beam search (RNN-T `default`/`maes`, TDT `default`/`maes`) on tiny decoder/joint modules with
NeMo's interface, against an exhaustive search over alignments."""

import itertools
import json
import math
import os

import numpy as np
import pytest
import torch

from nemo.collections.asr.modules.rnnt import RNNTDecoder, RNNTJoint
from nemo.collections.asr.parts.submodules.rnnt_beam_decoding import BeamRNNTInfer
from nemo.collections.asr.parts.submodules.tdt_beam_decoding import BeamTDTInfer
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses

from tests.collections.asr.parts.submodules.tiny_transducer import TinyDecoder, TinyJoint
from tests.collections.asr.parts.submodules.tiny_transducer import make_encoder as _encoder
from tests.collections.asr.parts.submodules.tiny_transducer import make_model as _model


# ---------------------------------------------------------------- exhaustive RNN-T search
def _rnnt_paths(dec, joint, enc, max_per_frame):
    """Every alignment with at most `max_per_frame` tokens a frame: {(tokens, frames): log-prob}."""
    V, T = dec.vocab_size, enc.shape[-1]
    f = enc.transpose(1, 2)
    memo = {}

    def logp(t, history):
        key = (t, history)
        if key not in memo:
            memo[key] = torch.log_softmax(joint.joint(f[:, t: t + 1], dec.output_for(history))[0, 0, 0], -1)
        return memo[key]

    paths = {((), ()): 0.0}
    for t in range(T):
        nxt = {}
        for (tokens, frames), score in paths.items():
            for k in range(max_per_frame + 1):
                for emitted in itertools.product(range(V), repeat=k):
                    s, hist = score, tokens
                    for tok in emitted:
                        s += float(logp(t, hist)[tok])
                        hist = hist + (tok,)
                    s += float(logp(t, hist)[V])
                    nxt[(hist, frames + (t,) * k)] = s
        paths = nxt
    return paths


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rnnt_default_beam_scores_are_alignment_scores_and_find_the_best_alignment(seed):
    V, T = 2, 3
    dec, joint = _model(seed, V)
    enc = _encoder(seed, T)
    with torch.no_grad():
        paths = _rnnt_paths(dec, joint, enc, max_per_frame=2)
    search = BeamRNNTInfer(dec, joint, beam_size=2, score_norm=False, return_best_hypothesis=False)
    (nbest,) = search(encoder_output=enc, encoded_lengths=torch.tensor([T]))
    assert isinstance(nbest[0], NBestHypotheses)
    hyps = nbest[0].n_best_hypotheses
    assert len(hyps) >= 2
    for hyp in hyps:
        key = (tuple(hyp.y_sequence.tolist()), tuple(hyp.timestamp))
        assert key in paths
        assert hyp.score == pytest.approx(paths[key], abs=1e-5)
    assert hyps[0].score == pytest.approx(max(paths.values()), abs=1e-5)
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def _greedy_reference(dec, joint, enc, max_symbols):
    f = enc.transpose(1, 2)
    tokens, frames, score = [], [], 0.0
    for t in range(f.shape[1]):
        for _ in range(max_symbols):
            logp = torch.log_softmax(joint.joint(f[:, t: t + 1], dec.output_for(tokens))[0, 0, 0], -1)
            k = int(logp.argmax())
            if k == dec.blank_idx:
                break
            tokens.append(k)
            frames.append(t)
            score += float(logp[k])
    return tokens, frames, score


@pytest.mark.parametrize("seed", [0, 4])
def test_rnnt_beam_one_is_greedy(seed):
    V, T = 4, 7
    dec, joint = _model(seed, V)
    with torch.no_grad():
        joint.out.bias[V] -= 1.5  # several tokens a frame
    enc = _encoder(seed, T, B=2)
    lengths = torch.tensor([T, T - 2])
    (hyps,) = BeamRNNTInfer(dec, joint, beam_size=1, max_symbols_per_step=3)(encoder_output=enc,
                                                                             encoded_lengths=lengths)
    multi = False
    for b, hyp in enumerate(hyps):
        with torch.no_grad():
            tokens, frames, score = _greedy_reference(dec, joint, enc[b: b + 1, :, : int(lengths[b])], 3)
        assert hyp.y_sequence.tolist() == tokens and hyp.timestamp == frames
        assert hyp.score == pytest.approx(score, abs=1e-5)
        multi |= len(frames) != len(set(frames))
    assert multi  # some frame emitted more than one token


def test_rnnt_maes_scores_are_bounded_by_the_sequence_probability():
    V, T = 3, 3
    for seed in range(3):
        dec, joint = _model(seed, V)
        enc = _encoder(seed, T)
        with torch.no_grad():
            paths = _rnnt_paths(dec, joint, enc, max_per_frame=2)
        seq_logp = {}
        for (tokens, _), s in paths.items():
            seq_logp[tokens] = float(torch.logaddexp(torch.tensor(seq_logp.get(tokens, -math.inf)), torch.tensor(s)))
        maes = BeamRNNTInfer(dec, joint, beam_size=1, search_type="maes", maes_num_steps=2, maes_expansion_beta=2,
                             score_norm=False)
        assert maes.search_algorithm == maes.greedy_search  # beam 1 is greedy for every search type
        maes = BeamRNNTInfer(dec, joint, beam_size=2, search_type="maes", maes_num_steps=2, maes_expansion_beta=1,
                             score_norm=False, return_best_hypothesis=False)
        (nbest,) = maes(encoder_output=enc, encoded_lengths=torch.tensor([T]))
        for hyp in nbest[0].n_best_hypotheses:
            tokens = tuple(hyp.y_sequence.tolist())
            assert hyp.score <= seq_logp[tokens] + 1e-5  # merged prefixes only add real alignments
            assert len(hyp.timestamp) == len(tokens)


# ---------------------------------------------------------------- TDT
def _tdt_paths(dec, joint, enc, durations, max_tokens):
    """Dynamic programme over (frame, tokens) for every TDT alignment with at most `max_tokens` tokens (a blank
    needs duration >= 1; a path ends on reaching a frame >= T): {tokens: (best path, log-sum of paths)}."""
    V, T = dec.vocab_size, enc.shape[-1]
    f = enc.transpose(1, 2)
    states = {(0, ()): (0.0, 0.0)}
    done = {}

    def add(table, key, best, total):
        if key in table:
            b, s = table[key]
            table[key] = (max(b, best), float(torch.logaddexp(torch.tensor(s), torch.tensor(total))))
        else:
            table[key] = (best, total)

    for t in range(T):
        for n in range(max_tokens + 1):
            for (tt, tokens), (best, total) in list(states.items()):
                if tt != t or len(tokens) != n:
                    continue
                logits = joint.joint(f[:, t: t + 1], dec.output_for(tokens))[0, 0, 0]
                lp, dlp = torch.log_softmax(logits[: V + 1], -1), torch.log_softmax(logits[V + 1:], -1)
                for j, d in enumerate(durations):
                    moves = [(tokens, float(lp[V] + dlp[j]))] if d > 0 else []
                    if n < max_tokens:
                        moves += [(tokens + (k,), float(lp[k] + dlp[j])) for k in range(V)]
                    for new_tokens, w in moves:
                        if t + d >= T:
                            add(done, new_tokens, best + w, total + w)
                        else:
                            add(states, (t + d, new_tokens), best + w, total + w)
    return done


def test_tdt_beam_scores_are_sums_over_real_alignments():
    """Every score is a sum over real alignments of its tokens (never above their total probability). NeMo's
    pruning (top V-1 tokens, top-k durations) is narrow, so the optimum is not always found (NeMo's neither)."""
    V, T, durations = 3, 4, [0, 1, 2]
    for seed in range(4):
        dec, joint = _model(seed, V, extra=len(durations))
        enc = _encoder(seed, T)
        with torch.no_grad():
            paths = _tdt_paths(dec, joint, enc, durations, max_tokens=4)
        for search_type in ("default", "maes"):
            kw = dict(maes_num_steps=2, maes_expansion_beta=0) if search_type == "maes" else {}
            search = BeamTDTInfer(dec, joint, durations=durations, beam_size=3, search_type=search_type,
                                  score_norm=False, return_best_hypothesis=False, **kw)
            (nbest,) = search(encoder_output=enc, encoded_lengths=torch.tensor([T]))
            hyps = nbest[0].n_best_hypotheses
            for hyp in hyps:
                tokens = tuple(hyp.y_sequence.tolist())
                assert hyp.score <= paths[tokens][1] + 1e-5
                assert len(hyp.timestamp) == len(tokens) == len(hyp.token_duration)
                assert all(0 <= f < T for f in hyp.timestamp) and hyp.timestamp == sorted(hyp.timestamp)
                assert hyp.last_frame >= T
            assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_tdt_default_beam_follows_durations():
    V, durations = 3, [0, 1, 2, 4]
    dec, joint = _model(5, V, extra=len(durations))
    with torch.no_grad():
        joint.out.bias[V + 1 + 3] += 3.0  # duration 4 likely: frames get skipped
    T = 12
    enc = _encoder(5, T)
    (hyps,) = BeamTDTInfer(dec, joint, durations=durations, beam_size=3)(encoder_output=enc,
                                                                         encoded_lengths=torch.tensor([T]))
    hyp = hyps[0]
    assert isinstance(hyp, Hypothesis) and len(hyp.y_sequence) > 0
    frames = hyp.timestamp
    # consecutive tokens are at least the earlier token's duration apart
    for a, b, d in zip(frames, frames[1:], hyp.token_duration):
        assert b - a >= d
    assert any(d >= 2 for d in hyp.token_duration)


def test_unsupported_strategies_raise_clear_errors():
    dec, joint = _model(0, 3)
    for name in ("nsc", "malsd_batch", "maes_batch"):
        with pytest.raises(ValueError, match=name):
            BeamRNNTInfer(dec, joint, beam_size=2, search_type=name)
    with pytest.raises(ValueError, match="Language-model"):
        BeamRNNTInfer(dec, joint, beam_size=2, ngram_lm_model="lm.arpa")
    with pytest.raises(ValueError, match="beam_size"):
        BeamRNNTInfer(dec, joint, beam_size=0)
    with pytest.raises(ValueError, match="vocabulary size"):
        BeamRNNTInfer(dec, joint, beam_size=3, search_type="maes", maes_expansion_beta=2)
    with pytest.raises(ValueError, match="malsd_batch"):
        BeamTDTInfer(dec, joint, durations=[0, 1], beam_size=2, search_type="malsd_batch")


# ---------------------------------------------------------------- NVIDIA NeMo 3.0.0's searches on the same modules
_REF_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "data", "rnnt_beam_reference.npz")
_REF = np.load(_REF_PATH)
_REF_RESULTS = json.loads(str(_REF["results_json"]))
_SEARCH_KEYS = ("beam_size", "search_type", "score_norm", "maes_num_steps", "maes_expansion_beta",
                "maes_expansion_gamma", "tsd_max_sym_exp_per_step", "alsd_max_target_len")


def _reference_modules(name, case):
    """The case's decoder and joint with the weights NeMo ran: tiny test modules or the project's RNNT modules."""
    durations = case.get("durations", [])
    if case["kind"] == "nemo_modules":
        dec = RNNTDecoder(prednet={"pred_hidden": 6, "pred_rnn_layers": 1}, vocab_size=case["V"])
        joint = RNNTJoint(jointnet={"encoder_hidden": 8, "pred_hidden": 6, "joint_hidden": 10, "activation": "relu"},
                          num_classes=case["V"])
    else:
        dec, joint = TinyDecoder(case["V"]), TinyJoint(case["V"] + 1 + len(durations))
    for prefix, module in (("dec.", dec), ("joint.", joint)):
        module.load_state_dict({k[len(name) + 1 + len(prefix):]: torch.from_numpy(_REF[k]) for k in _REF.files
                                if k.startswith(f"{name}/{prefix}")})
    return dec.eval(), joint.eval()


@pytest.mark.parametrize("name", sorted(_REF_RESULTS))
def test_matches_nemo_beam_search(name):
    case, want = _REF_RESULTS[name]["case"], _REF_RESULTS[name]["nbest"]
    durations = case.get("durations", [])
    dec, joint = _reference_modules(name, case)
    kw = {k: case[k] for k in _SEARCH_KEYS if k in case}
    if case["kind"] == "tdt":
        search = BeamTDTInfer(dec, joint, durations=durations, return_best_hypothesis=False, **kw)
    else:
        search = BeamRNNTInfer(dec, joint, return_best_hypothesis=False, **kw)
    (nbest,) = search(encoder_output=torch.from_numpy(_REF[f"{name}/encoder"]),
                      encoded_lengths=torch.from_numpy(_REF[f"{name}/lengths"]))
    assert len(nbest) == len(want)
    for got_utt, want_utt in zip(nbest, want):
        got = got_utt.n_best_hypotheses
        assert [h.y_sequence.tolist() for h in got] == [w["y_sequence"] for w in want_utt]
        assert [h.score for h in got] == pytest.approx([w["score"] for w in want_utt], abs=1e-4)
        for h, w in zip(got, want_utt):
            if case["kind"] == "tdt":  # NeMo stamps a token at its frame + duration; here at its frame
                assert [t + d for t, d in zip(h.timestamp, h.token_duration)] == w["timestamp"]
            elif case.get("search_type") == "alsd":  # NeMo stamps the alignment step (frame + tokens before)
                assert [t + n for n, t in enumerate(h.timestamp)] == w["timestamp"]
            else:
                assert list(h.timestamp) == w["timestamp"]


@pytest.mark.parametrize("search_type,beam_size", [("default", 2), ("maes", 2), ("default", 1)])
def test_preserved_alignments_hold_one_list_per_frame_ending_in_blank(search_type, beam_size):
    V, T = 4, 5
    dec, joint = _model(6, V)
    enc = _encoder(6, T)
    kw = dict(maes_expansion_beta=1) if search_type == "maes" else {}
    (hyps,) = BeamRNNTInfer(dec, joint, beam_size=beam_size, search_type=search_type, preserve_alignments=True,
                            **kw)(encoder_output=enc, encoded_lengths=torch.tensor([T]))
    hyp = hyps[0]
    assert len(hyp.alignments) == T
    labels = [[int(label) for _, label in frame] for frame in hyp.alignments]
    assert all(frame[-1] == V or len(frame) == 5 for frame in labels)  # blank, or 5 symbols (beam 1's cap)
    assert [k for frame in labels for k in frame if k != V] == hyp.y_sequence.tolist()
    assert all(logp.shape == (V + 1,) for frame in hyp.alignments for logp, _ in frame)
