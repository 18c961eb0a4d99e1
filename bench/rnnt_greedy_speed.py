"""Greedy TDT decoding speed of the parakeet-tdt-0.6b-v2 prediction net + joint, ours against NVIDIA NeMo 3.0.0.

    python bench/rnnt_greedy_speed.py [--ref /tmp/nemo_ref/bin/python] [--batch 1 16] [--frames 125] [--rounds 3]

Both libraries load the same seeded weights (RNNTDecoder 640 x 2 LSTM layers, RNNTJoint 1024/640 -> 1024 + blank
+ 5 durations; NeMo's state-dict keys) and decode the same random encoder output (`frames` = 10 s of audio at
8x subsampling; every other utterance 3/4 as long) with `greedy_batch` (label looping, max_symbols 10), one torch
thread, best of `--rounds`. The blank bias is raised so roughly half the frames emit a token. One JSON line:
seconds per batch for each side, the ratio, and whether the hypotheses (ids, frames, durations) agree.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules():
    from nemo.collections.asr.modules import RNNTDecoder, RNNTJoint

    dec = RNNTDecoder(prednet={"pred_hidden": 640, "pred_rnn_layers": 2, "dropout": 0.2}, vocab_size=1024).eval()
    joint = RNNTJoint(jointnet={"encoder_hidden": 1024, "pred_hidden": 640, "joint_hidden": 640, "activation": "relu",
                                "dropout": 0.2}, num_classes=1024, num_extra_outputs=5).eval()
    return dec, joint


def make(weights: str) -> None:
    import torch

    torch.manual_seed(0)
    dec, joint = modules()
    with torch.no_grad():
        joint.joint_net[-1].bias[1024] += 0.3
    torch.save({"decoder": dec.state_dict(), "joint": joint.state_dict()}, weights)


def side(weights: str, batch: int, frames: int, rounds: int, out: str) -> None:
    """Decode with whichever `nemo` this interpreter imports; write timing and hypotheses."""
    import torch

    torch.set_num_threads(1)
    from nemo.collections.asr.parts.submodules.rnnt_greedy_decoding import GreedyBatchedTDTInfer

    dec, joint = modules()
    state = torch.load(weights, weights_only=True)
    dec.load_state_dict(state["decoder"])
    joint.load_state_dict(state["joint"])
    g = torch.Generator().manual_seed(1)
    enc = torch.randn(batch, 1024, frames, generator=g)
    lens = torch.full((batch,), frames)
    lens[1::2] = frames * 3 // 4
    infer = GreedyBatchedTDTInfer(dec, joint, blank_index=1024, durations=[0, 1, 2, 3, 4], max_symbols_per_step=10,
                                  include_duration=True)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        hyps = infer(encoder_output=enc, encoded_lengths=lens)[0]
        best = min(best, time.perf_counter() - start)
    with open(out, "w") as f:
        json.dump({"seconds": best, "ids": [h.y_sequence.tolist() for h in hyps],
                   "frames": [h.timestamp.tolist() for h in hyps]}, f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="/tmp/nemo_ref/bin/python")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--frames", type=int, default=125)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--side", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        weights, batch, frames, rounds, out = args.side
        side(weights, int(batch), int(frames), int(rounds), out)
        return 0
    sys.path.insert(0, REPO)
    result = {"bench": "rnnt_greedy_speed", "model": "parakeet-tdt-0.6b-v2 decoder+joint", "frames": args.frames}
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "w.pt")
        make(weights)
        for batch in args.batch:
            got = {}
            for name, python in (("ours", sys.executable), ("nemo", args.ref)):
                env = dict(os.environ, OMP_NUM_THREADS="1")
                if name == "nemo":
                    env.pop("PYTHONPATH", None)
                else:
                    env["PYTHONPATH"] = REPO
                out = os.path.join(tmp, f"{name}.json")
                subprocess.run([python, os.path.abspath(__file__), "--side", weights, str(batch), str(args.frames),
                                str(args.rounds), out], check=True, env=env, cwd=tmp, capture_output=True)
                with open(out) as f:
                    got[name] = json.load(f)
            result[f"batch{batch}"] = {
                "ours_s": round(got["ours"]["seconds"], 3), "nemo_s": round(got["nemo"]["seconds"], 3),
                "speedup": round(got["nemo"]["seconds"] / got["ours"]["seconds"], 2),
                "tokens": sum(len(i) for i in got["ours"]["ids"]),
                "same_ids_and_frames": got["ours"]["ids"] == got["nemo"]["ids"]
                and got["ours"]["frames"] == got["nemo"]["frames"]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
