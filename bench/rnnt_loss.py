"""Forward+backward time of `RNNTLoss` (RNN-T `default` and TDT) on one CPU thread, B=16, T=100, U=30, V=129;
with --ref, the same under NVIDIA NeMo 3.0.0 (its CPU `default` is the numba-package loss; its `tdt` has no CPU
path, so NeMo's side runs `tdt_pytorch`, its pure-PyTorch reference, on a smaller batch).

    python bench/rnnt_loss.py [--rounds 3] [--ref /tmp/nemo_ref/bin/python] [--shape B T U V]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r"""
import json, sys, time, torch
torch.set_num_threads(1)
torch.Tensor.cuda = lambda self, *a, **k: self  # NeMo's tdt_pytorch calls .cuda() unconditionally
import nemo
from nemo.collections.asr.losses.rnnt import RNNTLoss
name, B, T, U, V, rounds = sys.argv[1], *map(int, sys.argv[2:7])
durations = [0, 1, 2, 3, 4]
kwargs = {"durations": durations, "sigma": 0.05} if name.startswith("tdt") else None
extra = len(durations) if kwargs else 0
g = torch.Generator().manual_seed(0)
x = torch.randn(B, T, U + 1, V + 1 + extra, generator=g)
y = torch.randint(0, V, (B, U), generator=g)
lens, ylens = torch.full((B,), T), torch.full((B,), U)
loss = RNNTLoss(V, loss_name=name, loss_kwargs=kwargs)
best = float("inf")
for _ in range(rounds):
    a = x.clone().requires_grad_(True)
    t0 = time.perf_counter()
    out = loss(log_probs=a, targets=y, input_lengths=lens, target_lengths=ylens)
    out.backward()
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"nemo": nemo.__file__, "loss": float(out), "seconds": best}))
"""


def run(python, name, shape, rounds, env):
    cmd = [python, "-c", WORKER, name, *map(str, shape), str(rounds)]
    out = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref", default=None, help="NVIDIA NeMo's python")
    ap.add_argument("--shape", type=int, nargs=4, default=(16, 100, 30, 128), metavar=("B", "T", "U", "V"))
    args = ap.parse_args()
    ours_env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    ref_env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH="")
    full, small = tuple(args.shape), (2, 20, 5, 128)
    result = {"shape_BTUV": list(full)}
    for name in ("default", "tdt"):
        ours = run(sys.executable, name, full, args.rounds, ours_env)
        assert ours["nemo"].startswith(REPO), ours["nemo"]
        result[f"{name}_ours_s"] = round(ours["seconds"], 4)
        if args.ref:
            ref_name = "tdt_pytorch" if name == "tdt" else name
            ref_shape = small if name == "tdt" else full
            ref = run(args.ref, ref_name, ref_shape, 1, ref_env)
            assert not ref["nemo"].startswith(REPO), ref["nemo"]
            result[f"{name}_nemo_{ref_name}_s"] = round(ref["seconds"], 4)
            result[f"{name}_nemo_shape_BTUV"] = list(ref_shape)
            if ref_shape != full:
                result[f"{name}_ours_small_s"] = round(run(sys.executable, name, small, args.rounds,
                                                           ours_env)["seconds"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
