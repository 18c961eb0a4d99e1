"""Do the NeMo-written transducer goldens, restored and re-saved by this package, restore in NVIDIA NeMo 3.0.0 with
NeMo's own expected outputs?

    OMP_NUM_THREADS=1 .venv/bin/python bench/asr_transducer_golden_resave.py --ref /tmp/nemo_ref/bin/python

For every archive in tests/collections/asr/data/transducer/transducer_expected.json (seeded RNN-T and hybrid
TDT-CTC; trained TDT, RNN-T and hybrid TDT-CTC) this package restores it and `save_to`s a copy; NeMo (`--ref`
interpreter) restores the copy and recomputes what it wrote when it made the golden: encoder output, prediction
net and joint on the stored prefix, the aux CTC head's log-probs, greedy_batch / greedy hypotheses with and without
timestamps (batch and batch-of-one), transcribe() with and without timestamps, the CTC head's transcripts. Values
are compared with NeMo's stored ones (arrays: max abs difference; hypotheses: ids, frames, durations, texts and
timestamps equal, scores within 1e-3). One JSON line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASR = os.path.join(REPO, "tests", "collections", "asr")
DATA = os.path.join(ASR, "data", "transducer")
FC = os.path.join(ASR, "data", "fastconformer")
HYP_KEYS = ("greedy_batch_hyps", "greedy_hyps", "greedy_batch_timestamps_hyps", "greedy_batch_single_timestamps_hyps",
            "greedy_timestamps_hyps")


def _expected():
    with open(os.path.join(DATA, "transducer_expected.json")) as f:
        return json.load(f)


def _same(a, b, tol=1e-6) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol
    return a == b


def _same_hyps(got, want) -> bool:
    return len(got) == len(want) and all(
        _same({k: v for k, v in g.items() if k != "score"}, {k: v for k, v in w.items() if k != "score"})
        and abs(g["score"] - w["score"]) <= 1e-3 for g, w in zip(got, want))


def nemo_side(name: str, path: str, out_path: str) -> None:
    """Under NeMo's interpreter: restore `path` and compare every output with the golden record `name`."""
    import numpy as np
    import torch

    import nemo
    from nemo.collections.asr import models

    sys.path.insert(0, ASR)
    import make_transducer_goldens as gen

    torch.set_num_threads(1)
    rec = _expected()[name]
    cls = getattr(models, rec["class"])
    if "batch" in rec:
        arrays = {k: np.load(os.path.join(DATA, v)) for k, v in rec["batch"]["arrays"].items()}
        wavs = [os.path.join(DATA, n) for n in rec["batch"]["wav_files"]]
    else:
        arrays = {k: np.load(os.path.join(FC, f"fc_{k.replace('prefix', 'tdt_prefix')}.npy"))
                  for k in ("input", "input_len", "prefix", "prefix_len")}
        wavs = [os.path.join(FC, n) for n in _expected()["wav_files"]]
    model = cls.restore_from(path, map_location="cpu").eval()
    res = {"name": name, "class": rec["class"], "nemo": nemo.__version__}

    def diff(got, file):
        return float(np.abs(got.numpy() - np.load(os.path.join(DATA, file))).max())

    with torch.no_grad():
        x, x_len = torch.from_numpy(arrays["input"]), torch.from_numpy(arrays["input_len"])
        feats, feat_len = model.preprocessor(input_signal=x, length=x_len)
        enc, enc_len = model.encoder(audio_signal=feats, length=feat_len)
        res["encoded_max_abs_diff"] = diff(enc, f"{name}_encoded.npy")
        res["encoded_len_equal"] = enc_len.tolist() == np.load(os.path.join(DATA, f"{name}_encoded_len.npy")).tolist()
        stored = torch.from_numpy(np.load(os.path.join(DATA, f"{name}_encoded.npy")))
        stored_len = torch.from_numpy(np.load(os.path.join(DATA, f"{name}_encoded_len.npy")))
        dec, _, _ = model.decoder(targets=torch.from_numpy(arrays["prefix"]),
                                  target_length=torch.from_numpy(arrays["prefix_len"]))
        res["decoder_max_abs_diff"] = diff(dec, f"{name}_decoder_out.npy")
        res["joint_max_abs_diff"] = diff(model.joint.joint(stored.transpose(1, 2), dec.transpose(1, 2)),
                                         f"{name}_joint.npy")
        if hasattr(model, "ctc_decoder"):
            res["ctc_logprobs_max_abs_diff"] = diff(model.ctc_decoder(encoder_output=stored),
                                                    f"{name}_ctc_logprobs.npy")
    for key in HYP_KEYS:
        strategy = "greedy_batch" if key.startswith("greedy_batch") else "greedy"
        got = gen.decode(model, stored, stored_len, strategy, "timestamps" in key, batch_of_one="single" in key)
        res[f"{key}_equal"] = _same_hyps(got, rec[key])
    with torch.no_grad():
        fresh = cls.restore_from(path, map_location="cpu").eval()
        got = [gen.hyp_record(h) for h in fresh.transcribe(wavs, batch_size=3, return_hypotheses=True, verbose=False)]
        res["transcribe_hyps_equal"] = _same_hyps(got, rec["transcribe_hyps"])
        fresh = cls.restore_from(path, map_location="cpu").eval()
        got = [gen.hyp_record(h) for h in fresh.transcribe(wavs, batch_size=3, timestamps=True, verbose=False)]
        res["transcribe_timestamps_hyps_equal"] = _same_hyps(got, rec["transcribe_timestamps_hyps"])
        if "ctc_transcribe_hyps" in rec:
            fresh = cls.restore_from(path, map_location="cpu").eval()
            fresh.change_decoding_strategy(decoder_type="ctc", verbose=False)
            texts = [h.text for h in fresh.transcribe(wavs, batch_size=3, return_hypotheses=True, verbose=False)]
            res["ctc_transcribe_texts_equal"] = texts == [h["text"] for h in rec["ctc_transcribe_hyps"]]
    res["texts"] = [h["text"] for h in rec["transcribe_hyps"]]
    with open(out_path, "w") as f:
        json.dump(res, f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="/tmp/nemo_ref/bin/python", help="Python interpreter with NVIDIA NeMo 3.0.0")
    ap.add_argument("--names", nargs="*", help="golden names (default: all in transducer_expected.json)")
    ap.add_argument("--side", nargs=3, metavar=("NAME", "NEMO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        nemo_side(*args.side)
        return 0
    sys.path.insert(0, REPO)
    import torch

    from nemo.collections.asr import models

    torch.set_num_threads(1)
    expected = _expected()
    names = args.names or [k for k, v in expected.items() if isinstance(v, dict) and "archive" in v]
    results, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path, out = os.path.join(tmp, f"{name}_ours.nemo"), os.path.join(tmp, f"{name}.json")
            model = getattr(models, expected[name]["class"]).restore_from(
                os.path.join(DATA, expected[name]["archive"]), map_location="cpu")
            model.save_to(path)
            env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
            env.pop("PYTHONPATH", None)
            proc = subprocess.run([args.ref, os.path.abspath(__file__), "--side", name, path, out], cwd=tmp, env=env,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                results.append({"name": name, "error": proc.stderr[-1500:]})
                ok = False
                continue
            with open(out) as f:
                res = json.load(f)
            results.append(res)
            ok = ok and all(v for k, v in res.items() if k.endswith("_equal")) and all(
                v <= 1e-4 for k, v in res.items() if k.endswith("_max_abs_diff"))
    print(json.dumps({"bench": "asr_transducer_golden_resave", "writer": "ours (re-saved NeMo goldens)",
                      "reader": "nemo 3.0.0", "all_equal": ok, "goldens": results}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
