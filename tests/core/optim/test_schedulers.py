"""LR policies against the spec's test vectors (§8.4) and formulas; registry and error behaviour."""

import math
import warnings

import pytest
import torch

from nemo.core.optim import lr_scheduler as L

# Spec §8.4: base LR 1.0, max_steps=10, get_last_lr()[0] at steps 0..12.
VECTORS = {
    "WarmupPolicy W=2": (L.WarmupPolicy, dict(warmup_steps=2),
                         [1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
    "WarmupPolicy ratio=0.2 m=0.1": (L.WarmupPolicy, dict(warmup_ratio=0.2, min_lr=0.1),
                                     [1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, .1, .1]),
    "WarmupHoldPolicy W=2 hold=3": (L.WarmupHoldPolicy, dict(warmup_steps=2, hold_steps=3, min_lr=0.1),
                                    [1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, .1, .1]),
    "SquareAnnealing W=2": (L.SquareAnnealing, dict(warmup_steps=2),
                            [1 / 3, 2 / 3, 1, .765625, .5625, .390625, .25, .140625, .0625, .015625, 1e-5, 1e-5, 1e-5]),
    "SquareRootAnnealing W=2": (L.SquareRootAnnealing, dict(warmup_steps=2),
                                [1 / 3, 2 / 3, 1, .83666, .774597, .707107, .632456, .547723, .447214, .316228, 0, 0, 0]),
    "CosineAnnealing W=2 m=0.1": (L.CosineAnnealing, dict(warmup_steps=2, min_lr=0.1),
                                  [1 / 3, 2 / 3, 1, .965746, .868198, .722208, .55, .377792, .231802, .134254, .1, .1, .1]),
    "CosineAnnealing no warmup": (L.CosineAnnealing, dict(),
                                  [1, .975528, .904508, .793893, .654508, .5, .345492, .206107, .095492, .024472, 0, 0, 0]),
    "CosineAnnealing W=2 C=3 m=0.1": (L.CosineAnnealing, dict(warmup_steps=2, constant_steps=3, min_lr=0.1),
                                      [0, .5, 1, .914058, .689058, .410942, .185942, .1, .1, .1, .1, .1, .1]),
    "NoamAnnealing d=4 W=2 m=0.01": (L.NoamAnnealing, dict(d_model=4, warmup_steps=2, min_lr=0.01),
                                     [.176777, .176777, .353553, .288675, .25, .223607, .204124, .188982, .176777,
                                      .166667, .158114, .150756, .144338]),
    "NoamHoldAnnealing W=2 hold=2 m=0.01": (L.NoamHoldAnnealing, dict(warmup_steps=2, hold_steps=2, min_lr=0.01),
                                            [1 / 3, 2 / 3, 1, 1, 1, .816497, .707107, .632456, .57735, .534522, .5,
                                             .01, .01]),
    "WarmupAnnealing W=2 m=0.1": (L.WarmupAnnealing, dict(warmup_steps=2, min_lr=0.1),
                                  [1 / 3, 2 / 3, 1, .8875, .775, .6625, .55, .4375, .325, .2125, .1, .1, .1]),
    "InverseSquareRootAnnealing W=2": (L.InverseSquareRootAnnealing, dict(warmup_steps=2),
                                       [1 / 3, 2 / 3, 1, .866025, .774597, .707107, .654654, .612372, .57735, .547723,
                                        .522233, 0, 0]),
    "PolynomialDecayAnnealing W=2 p=2 m=0.1": (L.PolynomialDecayAnnealing, dict(warmup_steps=2, power=2, min_lr=0.1),
                                               [1 / 3, 2 / 3, 1, .789062, .60625, .451562, .325, .226562, .15625,
                                                .114063, .1, .1, .1]),
    "PolynomialHoldDecayAnnealing W=2 hold=2": (L.PolynomialHoldDecayAnnealing,
                                                dict(warmup_steps=2, hold_steps=2, min_lr=0.1),
                                                [1 / 3, 2 / 3, 1, 1, 1, .85, .7, .55, .4, .25, .1, .1, .1]),
    "WarmupHoldAnnealLinear W=2 hold=2": (L.WarmupHoldAnnealLinear, dict(warmup_steps=2, hold_steps=2, min_lr=0.1),
                                          [1 / 3, 2 / 3, 1, 1, 1, .85, .7, .55, .4, .25, .1, .1, .1]),
    "WarmupHoldAnnealOneMinusSquareRoot W=2 hold=2": (L.WarmupHoldAnnealOneMinusSquareRoot,
                                                      dict(warmup_steps=2, hold_steps=2, min_lr=0.1),
                                                      [1 / 3, 2 / 3, 1, 1, 1, .591752, .42265, .292893, .183503, .1,
                                                       .1, .1, .1]),
    "T5InverseSquareRootAnnealing C=4": (L.T5InverseSquareRootAnnealing, dict(constant_steps=4),
                                         [.5, .5, .5, .5, .5, .447214, .408248, .377964, .353553, .333333, .316228,
                                          0, 0]),
}


def make_optimizer(*lrs):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def trace(cls, kwargs, steps=13, lrs=(1.0,), max_steps=10):
    """LR of every group at steps 0..steps-1, stepping as Lightning does (optimizer step, then scheduler)."""
    optimizer = make_optimizer(*lrs)
    scheduler = cls(optimizer, max_steps=max_steps, **kwargs)
    out = []
    for _ in range(steps):
        out.append(list(scheduler.get_last_lr()))
        assert [g["lr"] for g in optimizer.param_groups] == out[-1]
        optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("case", list(VECTORS))
def test_spec_vectors(case):
    cls, kwargs, expected = VECTORS[case]
    got = [lrs[0] for lrs in trace(cls, kwargs)]
    assert got == pytest.approx(expected, abs=1e-6)


def test_every_nemo_policy_has_a_vector():
    covered = {cls for cls, _, _ in VECTORS.values()}
    nemo_policies = {cls for cls in L.AVAILABLE_SCHEDULERS.values() if cls.__module__ == L.__name__}
    assert nemo_policies == covered


def cosine(s, W, M, B, m):
    return m + (B - m) * 0.5 * (1 + math.cos(math.pi * (s - W) / (M - W)))


@pytest.mark.parametrize("W,M,m", [(5, 40, 0.01), (0, 17, 0.0), (3, 3, 0.2)])
def test_cosine_phases_match_formula(W, M, m):
    """Step 0, end of warm-up, mid-way, max_steps and after, at a second horizon."""
    lrs = [g[0] for g in trace(L.CosineAnnealing, dict(warmup_steps=W, min_lr=m), steps=M + 3, lrs=(0.5,), max_steps=M)]
    warm = (lambda s: 0.5 * (s + 1) / (W + 1)) if W else (lambda s: cosine(s, 0, M, 0.5, m))
    assert lrs[0] == pytest.approx(warm(0))
    assert lrs[W] == pytest.approx(0.5)  # end of warmup reaches the base LR
    mid = (W + M) // 2
    if mid > W:
        assert lrs[mid] == pytest.approx(cosine(mid, W, M, 0.5, m))
    assert lrs[M] == pytest.approx(m if M > W else 0.5)
    assert lrs[M + 1] == pytest.approx(m) and lrs[M + 2] == pytest.approx(m)


def test_ratios_resolve_against_max_steps():
    lrs = [g[0] for g in trace(L.WarmupHoldAnnealLinear, dict(warmup_ratio=0.1, hold_ratio=0.2, min_lr=0.0),
                               steps=101, max_steps=100)]
    assert lrs[0] == pytest.approx(1 / 11)  # W = 10
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[29] == pytest.approx(1.0)  # hold until H = 30
    assert lrs[30] == pytest.approx(1.0) and lrs[65] == pytest.approx(0.5) and lrs[100] == pytest.approx(0.0)


def test_hold_defaults_to_end_of_warmup():
    """No hold given: decay starts right after warmup (NeMo counts from step 0 and jumps; see differences.md)."""
    lrs = [g[0] for g in trace(L.WarmupHoldAnnealLinear, dict(warmup_steps=2, min_lr=0.0))]
    assert lrs[2] == pytest.approx(1.0)
    assert lrs[3] == pytest.approx(1 - 1 / 8)
    assert lrs[10] == pytest.approx(0.0)


def test_each_group_decays_from_its_own_base_lr():
    """NeMo uses the first group's LR for every group in these two (spec §8.4 bug); we do not."""
    step5 = lambda cls, kw: trace(cls, kw, steps=6, lrs=(1.0, 0.5))[5]
    assert step5(L.CosineAnnealing, dict(warmup_steps=2)) == pytest.approx([0.691342, 0.345671], abs=1e-6)
    assert step5(L.CosineAnnealing, dict(warmup_steps=2, constant_steps=3)) == pytest.approx([0.345492, 0.172746],
                                                                                              abs=1e-6)
    assert step5(L.WarmupAnnealing, dict(warmup_steps=2)) == pytest.approx([0.625, 0.3125])


def test_polynomial_cycle_matches_non_cycle_before_max_steps():
    plain = trace(L.PolynomialDecayAnnealing, dict(warmup_steps=2, power=2))
    cycled = trace(L.PolynomialDecayAnnealing, dict(warmup_steps=2, power=2, cycle=True))
    assert plain == cycled


def test_resume_with_last_epoch():
    optimizer = make_optimizer(1.0)
    L.CosineAnnealing(optimizer, max_steps=10, warmup_steps=2, min_lr=0.1)  # sets initial_lr
    resumed = L.CosineAnnealing(optimizer, max_steps=10, warmup_steps=2, min_lr=0.1, last_epoch=4)
    assert resumed.last_epoch == 5
    assert resumed.get_last_lr()[0] == pytest.approx(0.722208, abs=1e-6)


def test_state_dict_round_trip():
    optimizer = make_optimizer(1.0)
    sched = L.CosineAnnealing(optimizer, max_steps=10, warmup_steps=2)
    for _ in range(4):
        optimizer.step()
        sched.step()
    state = sched.state_dict()
    other = L.CosineAnnealing(make_optimizer(1.0), max_steps=10, warmup_steps=2)
    other.load_state_dict(state)
    other.optimizer.step()
    other.step()
    assert other.last_epoch == 5
    assert other.get_last_lr()[0] == pytest.approx(0.691342, abs=1e-6)


def test_calling_get_lr_directly_warns():
    sched = L.WarmupPolicy(make_optimizer(1.0), warmup_steps=2)
    with pytest.warns(UserWarning, match="get_last_lr"):
        lrs = sched.get_lr()
    assert len(lrs) == 1


@pytest.mark.parametrize(
    "cls,kwargs,match",
    [
        (L.WarmupPolicy, dict(warmup_steps=2, warmup_ratio=0.1, max_steps=10), "not both"),
        (L.WarmupPolicy, dict(warmup_ratio=0.1), "needs max_steps"),
        (L.CosineAnnealing, dict(max_steps=None), "positive max_steps"),
        (L.SquareAnnealing, dict(max_steps=0), "positive max_steps"),
        (L.NoamHoldAnnealing, dict(max_steps=10), "without warmup"),
        (L.NoamAnnealing, dict(d_model=None), "d_model"),
        (L.T5InverseSquareRootAnnealing, dict(max_steps=10), "constant_steps"),
        (L.CosineAnnealing, dict(max_steps=10, min_lr=2.0), "lower than min_lr"),
        (L.NoamAnnealing, dict(d_model=4, min_lr=2.0), "lower than min_lr"),
    ],
)
def test_constructor_errors_are_clear(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(make_optimizer(1.0), **kwargs)


def test_arguments_after_optimizer_are_keyword_only():
    with pytest.raises(TypeError):
        L.CosineAnnealing(make_optimizer(1.0), 10)


def test_no_warnings_on_normal_stepping():
    optimizer = make_optimizer(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = L.CosineAnnealing(optimizer, max_steps=5)
        for _ in range(6):
            optimizer.step()
            sched.step()
    assert sched.last_epoch == 6


@pytest.mark.parametrize("cls", [L.WarmupHoldAnnealLinear, L.WarmupHoldAnnealOneMinusSquareRoot,
                                 L.PolynomialHoldDecayAnnealing])
def test_hold_reaching_max_steps_ends_at_min_lr(cls):
    lrs = [g[0] for g in trace(cls, dict(warmup_steps=2, hold_steps=8, min_lr=0.1), steps=12)]
    assert lrs[2:10] == pytest.approx([1.0] * 8)
    assert lrs[10:] == pytest.approx([0.1, 0.1])
