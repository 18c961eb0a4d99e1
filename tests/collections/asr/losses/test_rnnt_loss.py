"""Transducer losses: against a brute-force sum over all alignments, gradcheck, and NVIDIA NeMo 3.0.0's numbers."""

import os
import random

import numpy as np
import pytest
import torch

from nemo.collections.asr.losses.rnnt import RNNT_LOSS_RESOLVER, RNNTLoss, resolve_rnnt_loss
from nemo.collections.asr.losses.rnnt_pytorch import MultiblankRNNTLossPytorch, RNNTLossPytorch, TDTLossPytorch

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "rnnt_loss_reference.npz")


# ---------------------------------------------------------------- brute force: enumerate every alignment
def _alignment_scores(lp, dlp, y, T, U, blank_moves, label_durations):
    """All complete paths' log-scores on one utterance; lp (T, U+1, V), dlp (T, U+1, D) or None.

    blank_moves: (duration, column, duration index or None); label_durations: (duration, duration index or None).
    A label never lands on or past frame T; the path ends with a blank that lands exactly on T at u = U."""
    scores = []

    def walk(t, u, acc):
        for d, col, j in blank_moves:
            w = lp[t, u, col] + (dlp[t, u, j] if j is not None else 0.0)
            if u == U and t + d == T:
                scores.append(acc + w)
            elif t + d < T:
                walk(t + d, u, acc + w)
        if u < U:
            for d, j in label_durations:
                if t + d < T:
                    walk(t + d, u + 1, acc + lp[t, u, y[u]] + (dlp[t, u, j] if j is not None else 0.0))

    walk(0, 0, 0.0)
    return scores


def brute_force(acts, labels, act_lens, label_lens, kind, blank, durations=(), sigma=0.0, fastemit=0.0):
    """Per-utterance -log P summed over alignments, differentiable by autograd; FastEmit scales the gradient
    reaching the label token log-probs by (1 + lambda) and the value by (1 + lambda), as NeMo defines it."""
    out = []
    nd = len(durations) if kind == "tdt" else 0
    for b in range(acts.shape[0]):
        x = acts[b]
        tok = x[..., : x.shape[-1] - nd] if nd else x
        lp = torch.log_softmax(tok, -1) - sigma
        dlp = torch.log_softmax(x[..., -nd:], -1) if nd else None
        T, U = int(act_lens[b]), int(label_lens[b])
        y = labels[b].tolist()
        if fastemit:
            lab = lp.gather(-1, torch.tensor(y + [0] * (lp.shape[1] - len(y)))[None, : lp.shape[1], None]
                            .expand(lp.shape[0], lp.shape[1], 1))
            scaled = lab * (1 + fastemit) - lab.detach() * fastemit
            lp = lp.scatter(-1, torch.tensor(y + [0] * (lp.shape[1] - len(y)))[None, : lp.shape[1], None]
                            .expand(lp.shape[0], lp.shape[1], 1), scaled)
        if kind == "rnnt":
            scores = _alignment_scores(lp, dlp, y, T, U, [(1, blank, None)], [(0, None)])
        elif kind == "tdt":
            scores = _alignment_scores(lp, dlp, y, T, U, [(d, blank, j) for j, d in enumerate(durations) if d > 0],
                                       [(d, j) for j, d in enumerate(durations)])
        else:  # multiblank: durations are the big-blank durations
            moves = [(1, blank, None)] + [(d, blank - 1 - i, None) for i, d in enumerate(durations)]
            scores = _alignment_scores(lp, dlp, y, T, U, moves, [(0, None)])
        nll = -torch.logsumexp(torch.stack(scores), 0)
        out.append(nll + fastemit * nll.detach())
    return torch.stack(out)


def _batch(seed, B, T, U, V, extra=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    acts = (torch.randn(B, T, U + 1, V + 1 + extra, generator=g) * 1.5).to(dtype)
    act_lens = torch.randint(max(1, T - 2), T + 1, (B,), generator=g)
    act_lens[0] = T
    label_lens = torch.randint(0, U + 1, (B,), generator=g)
    label_lens[0] = U
    labels = torch.randint(0, V, (B, U), generator=g)
    return acts, labels, act_lens, label_lens


def _value_and_grad(fn, acts, labels, act_lens, label_lens):
    x = acts.clone().requires_grad_(True)
    losses = fn(x, labels, act_lens, label_lens)
    (losses * torch.linspace(0.5, 1.5, losses.numel(), dtype=losses.dtype)).sum().backward()
    return losses.detach(), x.grad


CASES = [
    ("rnnt", (), 0.0, 0.0),
    ("rnnt", (), 0.0, 0.4),
    ("tdt", (0, 1, 2), 0.0, 0.0),
    ("tdt", (0, 1, 2, 3), 0.05, 0.0),
    ("tdt", (1, 3), 0.1, 0.0),
    ("tdt", (0, 1, 2), 0.05, 0.3),
    ("multiblank", (2, 3), 0.05, 0.0),
]


@pytest.mark.parametrize("kind,durations,sigma,fastemit", CASES)
def test_matches_brute_force_alignment_sum(kind, durations, sigma, fastemit):
    V = 3
    blank = V + (len(durations) if kind == "multiblank" else 0)
    extra = len(durations)
    inputs = _batch(7, 3, 5, 3, V, extra=extra)
    if kind == "rnnt":
        ours = RNNTLossPytorch(blank, reduction=None, fastemit_lambda=fastemit)
    elif kind == "tdt":
        ours = TDTLossPytorch(blank, list(durations), reduction=None, sigma=sigma, fastemit_lambda=fastemit)
    else:
        ours = MultiblankRNNTLossPytorch(blank, list(durations), reduction=None, sigma=sigma)
    got, got_grad = _value_and_grad(ours, *inputs)

    def ref(*a):
        return brute_force(*a, kind=kind, blank=blank, durations=durations, sigma=sigma, fastemit=fastemit)

    want, want_grad = _value_and_grad(ref, *inputs)
    assert torch.isfinite(want).all()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_grad, want_grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["rnnt", "tdt", "multiblank"])
def test_gradcheck_double(kind):
    V = 3
    if kind == "rnnt":
        fn, extra = RNNTLossPytorch(V, reduction=None), 0
    elif kind == "tdt":
        fn, extra = TDTLossPytorch(V, [0, 1, 2], reduction=None, sigma=0.05), 3
    else:
        fn, extra = MultiblankRNNTLossPytorch(V + 2, [2, 3], reduction=None, sigma=0.05), 2
    acts, labels, act_lens, label_lens = _batch(3, 2, 4, 2, V, extra=extra)
    acts.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: fn(a, labels, act_lens, label_lens), (acts,), atol=1e-6)


# ---------------------------------------------------------------- NVIDIA NeMo 3.0.0's numbers
def _reference_cases():
    data = np.load(DATA)
    return data, sorted({k.split("/")[0] for k in data.files})


_DATA, _NAMES = _reference_cases()


@pytest.mark.parametrize("name", _NAMES)
def test_matches_nemo_reference(name):
    def arr(key):
        return torch.from_numpy(_DATA[f"{name}/{key}"])

    def meta(key, default):
        return _DATA[f"{name}/{key}"].tolist() if f"{name}/{key}" in _DATA.files else default

    V = 5
    acts, labels, act_lens, label_lens = arr("acts"), arr("labels"), arr("act_lens"), arr("label_lens")
    if name.startswith("rnnt_default_"):
        loss = RNNTLoss(num_classes=V, reduction=name[len("rnnt_default_"):])

        def fn(a, y, al, yl):
            return loss(log_probs=a, targets=y, input_lengths=al, target_lengths=yl)
    elif name.startswith("rnnt"):
        fn = RNNTLossPytorch(V, reduction=None, fastemit_lambda=meta("fastemit_lambda", 0.0), clamp=meta("clamp", -1))
    elif name.startswith("tdt"):
        fn = TDTLossPytorch(V, meta("durations", None), reduction=None, sigma=meta("sigma", 0.0))
    else:
        big = meta("big_blank_durations", None)
        fn = MultiblankRNNTLossPytorch(V + len(big), big, reduction=None, sigma=meta("sigma", 0.0))
    x = acts.clone().requires_grad_(True)
    losses = fn(x, labels, act_lens, label_lens)
    losses.sum().backward()
    torch.testing.assert_close(losses.detach().double(), arr("losses").double().reshape(losses.shape),
                               atol=2e-5, rtol=1e-6, equal_nan=True)
    torch.testing.assert_close(x.grad, arr("grad"), atol=1e-5, rtol=0, equal_nan=True)


# ---------------------------------------------------------------- NeMo's regularisers and options
def test_clamp_clips_each_utterance_gradient_before_the_reduction():
    V = 4
    acts, labels, act_lens, label_lens = _batch(11, 4, 6, 3, V, dtype=torch.float32)
    plain = acts.clone().requires_grad_(True)
    RNNTLoss(V, reduction=None)(log_probs=plain, targets=labels, input_lengths=act_lens,
                                target_lengths=label_lens).sum().backward()
    clamped = acts.clone().requires_grad_(True)
    loss = RNNTLoss(V, reduction="mean_batch", loss_kwargs={"clamp": 0.02})
    loss(log_probs=clamped, targets=labels, input_lengths=act_lens, target_lengths=label_lens).backward()
    assert (plain.grad.abs() > 0.02).any()
    torch.testing.assert_close(clamped.grad, plain.grad.clamp(-0.02, 0.02) / 4)


def test_tdt_clamp_touches_token_logits_only():
    V, durations = 4, [0, 1, 2]
    acts, labels, act_lens, label_lens = _batch(12, 3, 6, 3, V, extra=3, dtype=torch.float32)
    grads = []
    for clamp in (-1.0, 0.01):
        x = acts.clone().requires_grad_(True)
        TDTLossPytorch(V, durations, reduction=None, clamp=clamp)(x, labels, act_lens, label_lens).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[1][..., : V + 1], grads[0][..., : V + 1].clamp(-0.01, 0.01))
    torch.testing.assert_close(grads[1][..., V + 1:], grads[0][..., V + 1:])


def test_tdt_omega_samples_the_rnnt_loss_on_token_logits():
    V, durations = 4, [0, 1, 2]
    acts, labels, act_lens, label_lens = _batch(13, 3, 6, 3, V, extra=3)
    rnnt_losses, rnnt_grad = _value_and_grad(RNNTLossPytorch(V, reduction=None), acts[..., : V + 1], labels,
                                             act_lens, label_lens)
    always = TDTLossPytorch(V, durations, reduction=None, sigma=0.05, omega=1.0)
    losses, grad = _value_and_grad(always, acts, labels, act_lens, label_lens)
    torch.testing.assert_close(losses, rnnt_losses)
    torch.testing.assert_close(grad[..., : V + 1], rnnt_grad)
    assert (grad[..., V + 1:] == 0).all()
    tdt_losses = TDTLossPytorch(V, durations, reduction=None, sigma=0.05)(acts, labels, act_lens, label_lens)
    random.seed(0)
    mixed = TDTLossPytorch(V, durations, reduction=None, sigma=0.05, omega=0.5)
    draws = [mixed(acts, labels, act_lens, label_lens) for _ in range(20)]
    n_rnnt = sum(torch.allclose(d, rnnt_losses) for d in draws)
    n_tdt = sum(torch.allclose(d, tdt_losses) for d in draws)
    assert n_rnnt + n_tdt == 20 and 0 < n_rnnt < 20


def test_raw_and_log_softmaxed_joint_give_the_same_loss():
    V, durations = 4, [0, 1, 2, 3]
    acts, labels, act_lens, label_lens = _batch(14, 3, 5, 2, V, extra=4)
    loss = RNNTLoss(V, loss_name="tdt", loss_kwargs={"durations": durations, "sigma": 0.05})
    raw = loss(log_probs=acts, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    normed = torch.cat([torch.log_softmax(acts[..., : V + 1], -1), torch.log_softmax(acts[..., V + 1:], -1)], -1)
    torch.testing.assert_close(raw, loss(log_probs=normed, targets=labels, input_lengths=act_lens,
                                         target_lengths=label_lens))


@pytest.mark.parametrize("reduction", ["mean_batch", "mean", "sum", "mean_volume", "none", None])
def test_reductions(reduction):
    V = 4
    acts, labels, act_lens, label_lens = _batch(15, 4, 5, 3, V)
    label_lens = label_lens.clamp(min=1)
    per_utt = RNNTLoss(V, reduction=None)(log_probs=acts, targets=labels, input_lengths=act_lens,
                                          target_lengths=label_lens)
    got = RNNTLoss(V, reduction=reduction)(log_probs=acts, targets=labels, input_lengths=act_lens,
                                           target_lengths=label_lens)
    want = {"mean_batch": per_utt.mean(), "mean": (per_utt / label_lens).mean(), "sum": per_utt.sum(),
            "mean_volume": per_utt.sum() / label_lens.sum(), "none": per_utt, None: per_utt}[reduction]
    torch.testing.assert_close(got, want)


def test_every_nemo_loss_name_resolves_to_a_running_loss():
    V = 4
    kwargs = {"tdt": {"durations": [0, 1, 2], "sigma": 0.05}, "tdt_pytorch": {"durations": [0, 1, 2]},
              "multiblank_rnnt": {"big_blank_durations": [2]}, "multiblank_rnnt_pytorch": {"big_blank_durations": [2]}}
    for name in RNNT_LOSS_RESOLVER:
        if name == "graph_w_transducer":
            with pytest.raises(ValueError, match="W-Transducer"):
                RNNTLoss(V, loss_name=name)
            continue
        kw = kwargs.get(name)
        blank = V + 1 if name.startswith("multiblank") else V
        extra = 3 if name.startswith("tdt") else 0
        acts, labels, act_lens, label_lens = _batch(16, 2, 5, 2, blank, extra=extra, dtype=torch.float32)
        x = acts.requires_grad_(True)
        out = RNNTLoss(blank, loss_name=name, loss_kwargs=kw)(log_probs=x, targets=labels.clamp(max=V - 1),
                                                              input_lengths=act_lens, target_lengths=label_lens)
        out.backward()
        assert torch.isfinite(out) and x.grad.abs().sum() > 0, name
    plain = RNNTLoss(V, loss_name="pytorch")
    default = RNNTLoss(V, loss_name="default")
    acts, labels, act_lens, label_lens = _batch(17, 2, 5, 2, V)
    kw = dict(log_probs=acts, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    torch.testing.assert_close(plain(**kw), default(**kw))


def test_padding_beyond_the_longest_utterance_is_trimmed():
    V = 4
    acts, labels, act_lens, label_lens = _batch(18, 3, 6, 3, V)
    padded = torch.cat([acts, torch.randn(3, 2, 4, V + 1, dtype=acts.dtype)], dim=1)
    labels_padded = torch.cat([labels, torch.zeros(3, 2, dtype=labels.dtype)], dim=1)
    loss = RNNTLoss(V, reduction=None)
    want = loss(log_probs=acts, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    got = loss(log_probs=padded[:, :, :4], targets=labels_padded, input_lengths=act_lens, target_lengths=label_lens)
    torch.testing.assert_close(got, want)


def test_bad_input_raises_clear_errors():
    V = 4
    acts, labels, act_lens, label_lens = _batch(19, 2, 5, 2, V)
    with pytest.raises(ValueError, match="reduction"):
        RNNTLoss(V, reduction="avg")
    with pytest.raises(ValueError, match="not in list"):
        RNNTLoss(V, loss_name="warp")
    with pytest.raises(ValueError, match="durations"):
        resolve_rnnt_loss("tdt", V, {})
    with pytest.raises(ValueError, match="U\\+1"):
        RNNTLoss(V)(log_probs=acts[:, :, :2], targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    with pytest.raises(ValueError, match="target ids"):
        RNNTLoss(V)(log_probs=acts, targets=labels + 10, input_lengths=act_lens, target_lengths=label_lens)
    with pytest.raises(ValueError, match="joint output"):
        RNNTLoss(V, loss_name="tdt", loss_kwargs={"durations": [0, 1]})(
            log_probs=acts, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
