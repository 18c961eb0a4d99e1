"""FastConformer encoder forward time, this package vs NVIDIA NeMo 3.0.0, stt_en_fastconformer_ctc_large size.

    .venv/bin/python bench/asr_conformer_speed.py --ref /tmp/nemo_ref/bin/python [--threads 1] [--rounds 5]

Each side runs in its own interpreter: a seeded ConformerEncoder (18 layers, d_model 512, 8 heads, dw_striding 8x
with 256 channels, kernel 9; 115M parameters) in eval mode under inference_mode, on random 80-mel features: one
10 s utterance, and a batch of 4 padded ones (10, 9.6, 9.3, 8.9 s). Time is the process CPU time of the fastest of
`--rounds` forwards (this box is shared; CPU time is steadier than wall time at 1 thread). One JSON line with both
sides' seconds, the ratio NeMo/ours, and the largest output difference. `--minutes M` instead runs one forward of
an M-minute utterance and also reports each side's peak memory growth (ru_maxrss) during it.
"""

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {"b1_10s": [1000], "b4_padded": [1000, 963, 926, 889]}


def worker(threads, rounds, out_path, minutes=0.0):
    import resource
    import time

    import numpy as np
    import torch

    import nemo
    from nemo.collections.asr.modules import ConformerEncoder

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    enc = ConformerEncoder(feat_in=80, n_layers=18, d_model=512, subsampling="dw_striding", subsampling_factor=8,
                           subsampling_conv_channels=256, n_heads=8, conv_kernel_size=9, dropout_emb=0.0).eval()
    result, outputs = {"nemo_file": nemo.__file__}, {}
    cases = {f"b1_{minutes:g}min": [int(minutes * 6000)]} if minutes else CASES
    if minutes:
        rounds = 1
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, lens in cases.items():
        g = torch.Generator().manual_seed(1)
        x = torch.randn(len(lens), 80, max(lens), generator=g)
        length = torch.tensor(lens)
        best = float("inf")
        with torch.inference_mode():
            if not minutes:
                enc(audio_signal=x, length=length)
            for _ in range(rounds):
                t0 = time.process_time()
                out, _ = enc(audio_signal=x, length=length)
                best = min(best, time.process_time() - t0)
        result[name] = best
        result[name + "_peak_extra_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
        outputs[name] = out.numpy()
    np.savez(out_path, **outputs)
    print(json.dumps(result))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="/tmp/nemo_ref/bin/python")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=0.0, help="one long utterance instead (peak memory too)")
    ap.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.threads, a.rounds, a.worker, a.minutes)
        return
    import tempfile

    import numpy as np

    tmp = tempfile.mkdtemp(prefix="conformer_speed_")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    sides = {"ours": (sys.executable, dict(env, PYTHONPATH=REPO)),
             "nemo": (a.ref, {k: v for k, v in env.items() if k != "PYTHONPATH"})}
    res = {}
    for side, (python, side_env) in sides.items():
        out = subprocess.run([python, os.path.abspath(__file__), "--worker", os.path.join(tmp, side + ".npz"),
                              "--threads", str(a.threads), "--rounds", str(a.rounds), "--minutes", str(a.minutes)],
                             env=side_env, capture_output=True, text=True, cwd="/", check=True)
        res[side] = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    ours, ref = np.load(os.path.join(tmp, "ours.npz")), np.load(os.path.join(tmp, "nemo.npz"))
    row = {"bench": "asr_conformer_speed", "threads": a.threads, "params": 115_074_560}
    for name in ours.files:
        row[name] = {"ours_s": round(res["ours"][name], 4), "nemo_s": round(res["nemo"][name], 4),
                     "nemo_over_ours": round(res["nemo"][name] / res["ours"][name], 3),
                     "ours_peak_extra_mb": round(res["ours"][name + "_peak_extra_mb"]),
                     "nemo_peak_extra_mb": round(res["nemo"][name + "_peak_extra_mb"]),
                     "max_abs_diff": float(np.abs(ours[name] - ref[name]).max())}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
