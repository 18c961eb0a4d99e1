"""Writes tests/collections/asr/data/rnnt_loss_reference.npz with NVIDIA NeMo 3.0.0's transducer losses.

Run with NeMo's interpreter (never imported by the tests):
    /tmp/nemo_ref/bin/python tests/collections/asr/losses/make_rnnt_loss_reference.py
Seeded random joint logits; per case: inputs, per-utterance losses and the gradient of their sum.
"""

import os

import numpy as np
import torch

torch.Tensor.cuda = lambda self, *a, **k: self  # NeMo's TDTLossPytorch moves tensors to CUDA unconditionally

from nemo.collections.asr.losses.rnnt import RNNTLoss  # noqa: E402
from nemo.collections.asr.losses.rnnt_pytorch import (  # noqa: E402
    MultiblankRNNTLossPytorch,
    RNNTLossPytorch,
    TDTLossPytorch,
)
from nemo.collections.asr.parts.numba.rnnt_loss import RNNTLossNumba  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "rnnt_loss_reference.npz")


def batch(seed, B, T, U, V, extra=0):
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(B, T, U + 1, V + 1 + extra, generator=g) * 2.0
    act_lens = torch.randint(max(1, T - 2), T + 1, (B,), generator=g)
    act_lens[0] = T
    label_lens = torch.randint(0, U + 1, (B,), generator=g)
    label_lens[0] = U
    labels = torch.randint(0, V, (B, U), generator=g)
    return acts, labels, act_lens, label_lens


def run(loss_fn, acts, labels, act_lens, label_lens):
    x = acts.clone().requires_grad_(True)
    if isinstance(loss_fn, RNNTLoss):
        losses = loss_fn(log_probs=x, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    else:
        losses = loss_fn(x, labels, act_lens, label_lens)
    losses.sum().backward()
    return losses.detach(), x.grad


def main():
    out = {}

    def save(name, loss_fn, inputs, **meta):
        losses, grad = run(loss_fn, *inputs)
        acts, labels, act_lens, label_lens = inputs
        out[f"{name}/acts"] = acts.numpy()
        out[f"{name}/labels"] = labels.numpy()
        out[f"{name}/act_lens"] = act_lens.numpy()
        out[f"{name}/label_lens"] = label_lens.numpy()
        out[f"{name}/losses"] = np.asarray(losses.numpy(), dtype=np.float64)
        out[f"{name}/grad"] = grad.numpy()
        for k, v in meta.items():
            out[f"{name}/{k}"] = np.asarray(v)

    V = 5
    rnnt_in = batch(0, 4, 7, 4, V)
    save("rnnt_pytorch", RNNTLossPytorch(blank=V, reduction=None), rnnt_in)
    save("rnnt_numba", RNNTLossNumba(blank=V, reduction="none"), rnnt_in)
    save("rnnt_numba_fastemit", RNNTLossNumba(blank=V, reduction="none", fastemit_lambda=0.3), rnnt_in,
         fastemit_lambda=0.3)
    save("rnnt_numba_clamp", RNNTLossNumba(blank=V, reduction="none", clamp=0.05), rnnt_in, clamp=0.05)
    log_softmaxed = (torch.log_softmax(rnnt_in[0], -1),) + rnnt_in[1:]
    save("rnnt_numba_logsoftmaxed", RNNTLossNumba(blank=V, reduction="none"), log_softmaxed)
    nonempty = rnnt_in[:3] + (rnnt_in[3].clamp(min=1),)  # `mean` divides by the target length
    for reduction in ("mean_batch", "mean", "sum", "mean_volume"):
        save(f"rnnt_default_{reduction}", RNNTLoss(num_classes=V, reduction=reduction), nonempty)

    durations = [0, 1, 2, 4]
    tdt_in = batch(1, 3, 6, 3, V, extra=len(durations))
    for sigma in (0.0, 0.05):
        save(f"tdt_pytorch_sigma{sigma}", TDTLossPytorch(blank=V, durations=durations, reduction=None, sigma=sigma),
             tdt_in, durations=durations, sigma=sigma)
    tdt_in2 = batch(2, 3, 8, 3, V, extra=3)  # no duration 0: every label needs a frame
    save("tdt_pytorch_d123", TDTLossPytorch(blank=V, durations=[1, 2, 3], reduction=None, sigma=0.02), tdt_in2,
         durations=[1, 2, 3], sigma=0.02)

    big = [2, 3]
    mb_in = batch(3, 3, 7, 3, V + len(big))
    save("multiblank_pytorch", MultiblankRNNTLossPytorch(blank=V + len(big), big_blank_durations=big,
                                                         reduction=None, sigma=0.05), mb_in,
         big_blank_durations=big, sigma=0.05)

    np.savez_compressed(OUT, **out)
    print("wrote", os.path.abspath(OUT), os.path.getsize(OUT), "bytes,", len(out), "arrays")


if __name__ == "__main__":
    main()
