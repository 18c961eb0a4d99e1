"""Our RNN-T loss against NVIDIA NeMo 3.0.0's CPU `warprnnt_numba` loss at realistic sizes, value and gradient.

    OMP_NUM_THREADS=1 .venv/bin/python bench/rnnt_loss_nemo_parity.py --ref /tmp/nemo_ref/bin/python

Inputs: seeded random joint logits (B 8, T 100, U 20, V 128 + blank, scale 3) and the joint of the trained RNN-T
golden (tests/collections/asr/data/transducer/rnnt_bpe_trained.nemo) on its golden batch with the reference
transcripts; each raw and log-softmaxed. Cases: `RNNTLoss(loss_name="warprnnt_numba")` with every NeMo reduction,
FastEmit and clamp. Both sides run float32; our float64 run says how far float32 itself is from the exact value.
`clamp` with a `mean*` reduction differs by design (NeMo's CPU path clips after the reduction weight;
docs/differences.md), reported but not counted. One JSON line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "collections", "asr", "data", "transducer")
CASES = [("mean_batch", 0.0, -1.0), ("mean_batch", 0.01, -1.0), ("mean_volume", 0.0, -1.0), ("mean", 0.0, -1.0),
         ("sum", 0.0, -1.0), ("sum", 0.01, 0.05), ("mean_batch", 0.0, 0.1)]


def loss_and_grad(acts, labels, act_lens, label_lens, reduction, fastemit, clamp):
    """Whichever `nemo` this interpreter imports: reduced loss and the gradient w.r.t. the joint."""
    import torch

    from nemo.collections.asr.losses.rnnt import RNNTLoss

    fn = RNNTLoss(num_classes=acts.shape[-1] - 1, reduction=reduction, loss_name="warprnnt_numba",
                  loss_kwargs={"fastemit_lambda": fastemit, "clamp": clamp})
    x = acts.clone().requires_grad_(True)
    loss = fn(log_probs=x, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    loss.backward()
    return loss.detach().double().numpy(), x.grad.double().numpy()


def side(inputs: str, out: str, dtype: str = "float32") -> None:
    import torch

    torch.set_num_threads(1)
    d = np.load(inputs)
    res = {}
    for src in ("random", "model"):
        acts = torch.from_numpy(d[f"{src}/acts"]).to(getattr(torch, dtype))
        rest = [torch.from_numpy(d[f"{src}/{k}"]) for k in ("labels", "act_lens", "label_lens")]
        for kind, x in (("raw", acts), ("log_softmaxed", acts.log_softmax(-1))):
            for case in CASES:
                loss, grad = loss_and_grad(x, *rest, *case)
                key = f"{src}|{kind}|{'|'.join(map(str, case))}"
                res[key + "|loss"], res[key + "|grad"] = loss, grad
    np.savez(out, **res)


def make_inputs(path: str) -> dict:
    import torch

    from nemo.collections.asr.models import EncDecRNNTBPEModel

    g = torch.Generator().manual_seed(0)
    B, T, U, V = 8, 100, 20, 129
    act_lens = torch.randint(70, T + 1, (B,), generator=g)
    act_lens[0] = T
    label_lens = torch.randint(5, U + 1, (B,), generator=g)
    label_lens[0] = U
    labels = torch.randint(0, V - 1, (B, U), generator=g) * (torch.arange(U)[None] < label_lens[:, None])
    arrays = {"random/acts": torch.randn(B, T, U + 1, V, generator=g).mul(3.0), "random/labels": labels,
              "random/act_lens": act_lens, "random/label_lens": label_lens}
    with open(os.path.join(DATA, "transducer_expected.json")) as f:
        rec = json.load(f)["rnnt_bpe_trained"]
    model = EncDecRNNTBPEModel.restore_from(os.path.join(DATA, rec["archive"]), map_location="cpu").eval()
    x = torch.from_numpy(np.load(os.path.join(DATA, rec["batch"]["arrays"]["input"])))
    x_len = torch.from_numpy(np.load(os.path.join(DATA, rec["batch"]["arrays"]["input_len"])))
    tgt = torch.tensor(rec["training_step"]["targets"])
    tgt_len = torch.tensor(rec["training_step"]["target_lengths"])
    with torch.no_grad():
        enc, enc_len = model(input_signal=x, input_signal_length=x_len)
        dec, _, _ = model.decoder(targets=tgt, target_length=tgt_len)
        joint = model.joint.joint(enc.transpose(1, 2), dec.transpose(1, 2))
    arrays.update({"model/acts": joint, "model/labels": tgt, "model/act_lens": enc_len, "model/label_lens": tgt_len})
    np.savez(path, **{k: v.numpy() for k, v in arrays.items()})
    return {"random": [B, T, U, V], "model": list(joint.shape)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="/tmp/nemo_ref/bin/python", help="Python interpreter with NVIDIA NeMo 3.0.0")
    ap.add_argument("--side", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        side(*args.side)
        return 0
    sys.path.insert(0, REPO)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs.npz")
        shapes = make_inputs(inputs)
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        env.pop("PYTHONPATH", None)
        proc = subprocess.run([args.ref, os.path.abspath(__file__), "--side", inputs, os.path.join(tmp, "nemo.npz"),
                               "float32"], cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(json.dumps({"bench": "rnnt_loss_nemo_parity", "error": proc.stderr[-1500:]}))
            return 1
        for name, dtype in (("ours32.npz", "float32"), ("ours64.npz", "float64")):
            side(inputs, os.path.join(tmp, name), dtype)
        nemo, ours, exact = (np.load(os.path.join(tmp, n)) for n in ("nemo.npz", "ours32.npz", "ours64.npz"))
        cases, ok = [], True
        for key in sorted({k.rsplit("|", 1)[0] for k in nemo.files}):
            lw, gw = nemo[key + "|loss"], nemo[key + "|grad"]
            row = {"case": key,
                   "loss_rel_diff": float(np.abs(ours[key + "|loss"] - lw).max() / max(1.0, np.abs(lw).max())),
                   "grad_max_abs_diff": float(np.abs(ours[key + "|grad"] - gw).max()),
                   "grad_max_abs": float(np.abs(gw).max()),
                   "nemo_vs_float64_grad": float(np.abs(gw - exact[key + "|grad"]).max()),
                   "ours_vs_float64_grad": float(np.abs(ours[key + "|grad"] - exact[key + "|grad"]).max())}
            row["by_design"] = key.endswith("|0.1") and "|mean" in key  # clamp with a mean* reduction
            if not row["by_design"]:
                ok = ok and row["loss_rel_diff"] <= 1e-6 and row["grad_max_abs_diff"] <= max(
                    1e-5, 2 * row["nemo_vs_float64_grad"])
            cases.append(row)
    print(json.dumps({"bench": "rnnt_loss_nemo_parity", "shapes": shapes, "all_equal": ok, "cases": cases}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
