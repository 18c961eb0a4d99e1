"""skip_init: random init fills are no-ops only in the thread restoring a model; torch's functions come back."""

import threading

import torch

from nemo.core.connectors.weights import skip_init

ORIGINAL_NORMAL = torch.nn.init.normal_


def _filled(n=256):
    return torch.nn.init.normal_(torch.zeros(n)).abs().sum().item()


def test_skips_in_this_thread_only_while_another_thread_initialises():
    inside, other_done = threading.Event(), threading.Event()
    results = {}

    def restoring():
        with skip_init():
            inside.set()
            other_done.wait(timeout=30)
            results["restoring"] = _filled()
            spawned = threading.Thread(target=lambda: results.setdefault("spawned", _filled()))
            spawned.start()
            spawned.join()

    def building():
        inside.wait(timeout=30)
        results["building"] = _filled()
        other_done.set()

    threads = [threading.Thread(target=restoring), threading.Thread(target=building)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["restoring"] == 0.0
    assert results["building"] > 0 and results["spawned"] > 0  # neither the other thread nor a child skips
    assert torch.nn.init.normal_ is ORIGINAL_NORMAL


def test_nested_and_overlapping_scopes_restore_torch_once_the_last_leaves():
    first_in, second_out = threading.Event(), threading.Event()
    seen = []

    def second():
        first_in.wait(timeout=30)
        with skip_init():
            seen.append(_filled())
        seen.append(torch.nn.init.normal_ is ORIGINAL_NORMAL)  # the first thread is still inside
        second_out.set()

    t = threading.Thread(target=second)
    t.start()
    with skip_init():
        with skip_init():
            first_in.set()
            second_out.wait(timeout=30)
        assert _filled() == 0.0  # still inside the outer scope
    t.join()
    assert seen == [0.0, False]
    assert torch.nn.init.normal_ is ORIGINAL_NORMAL and _filled() > 0


def test_linear_layers_keep_their_allocation_but_skip_the_random_fill():
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    with skip_init():
        layer = torch.nn.Linear(8, 4)
    assert layer.weight.shape == (4, 8)
    assert torch.equal(torch.random.get_rng_state(), state)  # no random numbers were drawn
