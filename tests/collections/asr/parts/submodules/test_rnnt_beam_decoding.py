"""Transducer beam search (RNN-T `default`/`maes`, TDT `default`/`maes`) on tiny decoder/joint modules with
NeMo's interface, against an exhaustive search over alignments."""

import itertools
import math

import pytest
import torch
from torch import nn

from nemo.collections.asr.parts.submodules.rnnt_beam_decoding import BeamRNNTInfer
from nemo.collections.asr.parts.submodules.tdt_beam_decoding import BeamTDTInfer
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses

H = 6


class TinyDecoder(nn.Module):
    """LSTM prediction net with NeMo's beam-search interface; blank (= vocab_size) embeds to zeros like SOS."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.blank_idx = vocab_size
        self.blank_as_pad = True
        self.embed = nn.Embedding(vocab_size + 1, H, padding_idx=vocab_size)
        self.rnn = nn.LSTM(H, H, batch_first=True)

    def predict(self, y=None, state=None, add_sos=False, batch_size=None):
        x = torch.zeros(batch_size or 1, 1, H) if y is None else self.embed(y)
        out, (h, c) = self.rnn(x, None if state is None else tuple(state))
        return out, [h, c]

    def initialize_state(self, y):
        return [torch.zeros(1, y.size(0), H), torch.zeros(1, y.size(0), H)]

    def batch_initialize_states(self, states):
        return [torch.stack([s[i] for s in states], dim=1) for i in range(2)]

    def batch_select_state(self, states, idx):
        return [s[:, idx] for s in states]

    def score_hypothesis(self, hyp, cache):
        key = tuple(hyp.y_sequence)
        if key not in cache:
            last = hyp.y_sequence[-1]
            if last == self.blank_idx:
                y, state = self.predict(None, None)
            else:
                y, state = self.predict(torch.tensor([[last]]), hyp.dec_state)
            cache[key] = (y[:, -1:], state)
        y, state = cache[key]
        return y, state, torch.tensor([hyp.y_sequence[-1]])

    def batch_score_hypothesis(self, hyps, cache):
        outs, states = [], []
        for hyp in hyps:
            key = tuple(hyp.y_sequence)
            if key not in cache:
                tokens = torch.tensor([[hyp.y_sequence[-1]]])
                y, st = self.predict(tokens, self.batch_initialize_states([hyp.dec_state]))
                cache[key] = (y[0], self.batch_select_state(st, 0))
            outs.append(cache[key][0])
            states.append(cache[key][1])
        return outs, states

    def output_for(self, history):
        """Prediction output after <SOS> + history, computed in one pass (for the exhaustive search)."""
        x = torch.cat([torch.zeros(1, 1, H), self.embed(torch.tensor([list(history)], dtype=torch.long))], dim=1)
        return self.rnn(x)[0][:, -1:]


class TinyJoint(nn.Module):
    def __init__(self, outputs: int):
        super().__init__()
        self.out = nn.Linear(H, outputs)

    def joint(self, f, g):
        return self.out(torch.tanh(f.unsqueeze(2) + g.unsqueeze(1)))


def _model(seed, V, extra=0):
    torch.manual_seed(seed)
    dec, joint = TinyDecoder(V), TinyJoint(V + 1 + extra)
    with torch.no_grad():
        joint.out.bias[V] += 0.5  # blank a little likelier, as in trained models
    return dec, joint


def _encoder(seed, T, B=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, T, generator=g) * 1.5


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
        paths = _rnnt_paths(dec, joint, enc, max_per_frame=3)
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


def test_rnnt_maes_agrees_with_default_and_bounds_by_sequence_probability():
    V, T = 3, 4
    for seed in range(3):
        dec, joint = _model(seed, V)
        enc = _encoder(seed, T)
        with torch.no_grad():
            paths = _rnnt_paths(dec, joint, enc, max_per_frame=2)
        seq_logp = {}
        for (tokens, _), s in paths.items():
            seq_logp[tokens] = float(torch.logaddexp(torch.tensor(seq_logp.get(tokens, -math.inf)), torch.tensor(s)))
        maes = BeamRNNTInfer(dec, joint, beam_size=1 + 0, search_type="maes", maes_num_steps=2, maes_expansion_beta=2,
                             score_norm=False)
        assert maes.search_algorithm == maes.greedy_search  # beam 1 is greedy for every search type
        maes = BeamRNNTInfer(dec, joint, beam_size=2, search_type="maes", maes_num_steps=2, maes_expansion_beta=1,
                             score_norm=False, return_best_hypothesis=False)
        (nbest,) = maes(encoder_output=enc, encoded_lengths=torch.tensor([T]))
        best_path = max(paths.values())
        for hyp in nbest[0].n_best_hypotheses:
            tokens = tuple(hyp.y_sequence.tolist())
            assert hyp.score <= seq_logp[tokens] + 1e-5  # merged prefixes only add real alignments
            assert len(hyp.timestamp) == len(tokens)
        assert nbest[0].n_best_hypotheses[0].score >= best_path - 1e-5


# ---------------------------------------------------------------- TDT
def _tdt_paths(dec, joint, enc, durations, max_zero):
    """Every TDT alignment (a blank needs duration >= 1, at most `max_zero` zero-duration tokens in a row);
    a path ends when it reaches a frame >= T. {tokens: [path log-probs]}"""
    V, T, nd = dec.vocab_size, enc.shape[-1], len(durations)
    f = enc.transpose(1, 2)
    out = {}

    def walk(t, tokens, score, zeros):
        if t >= T:
            out.setdefault(tokens, []).append(score)
            return
        logits = joint.joint(f[:, t: t + 1], dec.output_for(tokens))[0, 0, 0]
        lp, dlp = torch.log_softmax(logits[: V + 1], -1), torch.log_softmax(logits[V + 1:], -1)
        for j, d in enumerate(durations):
            if d > 0:
                walk(t + d, tokens, score + float(lp[V] + dlp[j]), 0)
            for k in range(V):
                if d > 0 or zeros < max_zero:
                    walk(t + d, tokens + (k,), score + float(lp[k] + dlp[j]), zeros + 1 if d == 0 else 0)

    walk(0, (), 0.0, 0)
    return out


@pytest.mark.parametrize("search_type", ["default", "maes"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tdt_beam_scores_lie_between_best_alignment_and_sequence_probability(search_type, seed):
    V, T, durations = 3, 4, [0, 1, 2]
    dec, joint = _model(seed, V, extra=len(durations))
    enc = _encoder(seed, T)
    with torch.no_grad():
        paths = _tdt_paths(dec, joint, enc, durations, max_zero=2)
    kw = dict(maes_num_steps=2, maes_expansion_beta=1) if search_type == "maes" else {}
    search = BeamTDTInfer(dec, joint, durations=durations, beam_size=2, search_type=search_type, score_norm=False,
                          return_best_hypothesis=False, **kw)
    (nbest,) = search(encoder_output=enc, encoded_lengths=torch.tensor([T]))
    hyps = nbest[0].n_best_hypotheses
    best_single = max(s for scores in paths.values() for s in scores)
    for hyp in hyps:
        tokens = tuple(hyp.y_sequence.tolist())
        total = float(torch.logsumexp(torch.tensor(paths[tokens]), 0))
        assert max(paths[tokens]) - 1e-5 <= hyp.score <= total + 1e-5 or search_type == "maes"
        assert hyp.score <= total + 1e-5
        assert len(hyp.timestamp) == len(tokens) == len(hyp.token_duration)
        assert all(0 <= f < T for f in hyp.timestamp) and hyp.timestamp == sorted(hyp.timestamp)
        assert hyp.last_frame >= T
    assert hyps[0].score >= best_single - 1e-5 or search_type == "maes"


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
    for name in ("tsd", "alsd", "nsc", "malsd_batch", "maes_batch"):
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
