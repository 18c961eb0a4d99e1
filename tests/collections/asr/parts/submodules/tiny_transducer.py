"""Tiny transducer prediction net and joint with NeMo's beam-search interface (plain torch: NeMo's beam search
runs on them too, see make_beam_reference.py)."""

import torch
from torch import nn

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


def make_model(seed, V, extra=0):
    torch.manual_seed(seed)
    dec, joint = TinyDecoder(V), TinyJoint(V + 1 + extra)
    with torch.no_grad():
        joint.out.bias[V] += 0.5  # blank a little likelier, as in trained models
    return dec, joint


def make_encoder(seed, T, B=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, T, generator=g) * 1.5
