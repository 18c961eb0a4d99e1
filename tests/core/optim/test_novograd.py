"""Novograd against a hand computation (plain Python floats) and the spec's vectors (§7.5)."""

import math

import pytest
import torch

from nemo.core.optim.novograd import Novograd

GRADS = [[0.1, 0.2], [0.3, -0.1], [0.0, 0.0], [0.2, 0.2], [-0.4, 0.05], [0.01, -0.3]]


def by_hand(p, grads, lr, betas=(0.95, 0.98), eps=1e-8, weight_decay=0.0, grad_averaging=False, amsgrad=False,
            luc=False, luc_trust=1e-3, luc_eps=1e-8):
    """The algorithm written out with floats: one second moment per tensor, no bias correction."""
    b1, b2 = betas
    p, m, v, v_max, history = list(p), [0.0] * len(p), 0.0, 0.0, []
    for g in grads:
        n = sum(x * x for x in g)
        v = n if v == 0 else b2 * v + (1 - b2) * n
        v_max = max(v_max, v)
        denom = math.sqrt(v_max if amsgrad else v) + eps
        g = [x / denom + weight_decay * w for x, w in zip(g, p)]
        if grad_averaging:
            g = [(1 - b1) * x for x in g]
        m = [b1 * a + x for a, x in zip(m, g)]
        step = lr
        if luc:
            norm = lambda xs: math.sqrt(sum(x * x for x in xs))
            step = min(luc_trust * norm(p) / (norm(m) + luc_eps), lr)
        p = [w - step * a for w, a in zip(p, m)]
        history.append(p)
    return history


def run(grads, dtype=torch.float64, **options):
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=dtype))
    opt = Novograd([p], **options)
    history = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        history.append(p.detach().tolist())
    return history, opt, p


OPTIONS = {
    "defaults": dict(lr=0.1),
    "grad_averaging": dict(lr=0.1, grad_averaging=True),
    "amsgrad": dict(lr=0.1, amsgrad=True),
    "weight_decay": dict(lr=0.1, weight_decay=0.01),
    "luc": dict(lr=0.1, luc=True),
    "luc_trust": dict(lr=0.1, luc=True, luc_trust=0.05),
    "all": dict(lr=0.05, betas=(0.8, 0.5), weight_decay=0.001, grad_averaging=True, amsgrad=True, luc=True,
                luc_trust=0.02),
}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_matches_hand_computation(name):
    history, _, _ = run(GRADS, **OPTIONS[name])
    expected = by_hand([1.0, 2.0], GRADS, **OPTIONS[name])
    for step, (got, want) in enumerate(zip(history, expected)):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12), f"step {step + 1}"


def test_options_change_the_trajectory():
    finals = {name: tuple(run(GRADS, **opts)[0][-1]) for name, opts in OPTIONS.items()}
    assert len(set(finals.values())) == len(finals)


SPEC = {
    "lr=0.1": (dict(lr=0.1), [[0.9552786, 1.9105573], [0.7799511, 1.8698674], [0.61339, 1.831212],
                              [0.3662288, 1.7055614]]),
    "betas wd averaging": (dict(lr=0.1, betas=(0.8, 0.5), weight_decay=0.001, grad_averaging=True),
                           [[0.9910357, 1.9820714], [0.9619356, 1.9749919], [0.9386362, 1.9692888],
                            [0.9034752, 1.9481843]]),
    "amsgrad": (dict(lr=0.1, amsgrad=True), [[0.9552786, 1.9105573], [0.7799511, 1.8698674], [0.61339, 1.831212],
                                             [0.3665954, 1.705928]]),
    "luc": (dict(lr=0.1, luc=True), [[0.999, 1.998], [0.996824, 1.9974951], [0.9946494, 1.9969903],
                                     [0.9926606, 1.9959793]]),
}


@pytest.mark.parametrize("name", list(SPEC))
def test_spec_vectors_float32(name):
    options, expected = SPEC[name]
    history, _, _ = run(GRADS[:4], dtype=torch.float32, **options)
    for got, want in zip(history, expected):
        assert got == pytest.approx(want, abs=2e-7)


def test_state_and_normalised_grad_after_steps():
    _, opt, p = run(GRADS[:4], dtype=torch.float32, lr=0.1)
    state = opt.state[p]
    assert state["step"] == 4
    assert state["exp_avg_sq"].dim() == 0  # one second moment per tensor
    assert state["exp_avg_sq"].item() == pytest.approx(0.0505804, abs=1e-7)
    assert p.grad.tolist() == pytest.approx([0.8892806, 0.8892806], abs=1e-6)  # grad is normalised in place


def test_group_options_and_optimizer_wide_luc():
    opt = Novograd([torch.nn.Parameter(torch.zeros(2))], lr=0.1, luc=True, luc_trust=0.5)
    assert set(opt.param_groups[0]) == {"params", "lr", "betas", "eps", "weight_decay", "grad_averaging", "amsgrad"}
    assert (opt.luc, opt.luc_trust, opt.luc_eps) == (True, 0.5, 1e-8)
    state = opt.state_dict()
    del state["param_groups"][0]["amsgrad"]
    opt.load_state_dict(state)
    assert opt.param_groups[0]["amsgrad"] is False


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1))])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        Novograd([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_sparse_gradients_rejected():
    emb = torch.nn.Embedding(4, 2, sparse=True)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="Sparse gradients"):
        Novograd(emb.parameters(), lr=0.1).step()


def test_closure_loss_is_returned():
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = Novograd([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(1.0)
    assert p.item() < 1.0


def test_trains_a_small_regression_model():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = Novograd(model.parameters(), lr=0.05, betas=(0.9, 0.5), weight_decay=1e-4, grad_averaging=True)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.05 * first
