"""Transducer decoding quality and speed: greedy_batch vs malsd_batch (beam 4) vs malsd_batch + 3-gram LM (and
maes_batch with / without the LM on RNN-T), ours and NVIDIA NeMo 3.0.0's, on the trained transducer goldens over
the espeak-ng corpus's test split.

    .venv/bin/python bench/asr_transducer_beam_lm.py --ref /tmp/nemo_ref/bin/python [--corpus /tmp/tcorpus]

The corpus is the one the goldens were trained on (`python -m nemo.collections.asr.data.synth --out /tmp/tcorpus
--num-train 160 --num-dev 24 --num-test 24 --seed 3`); the LM is tests/.../transducer_beam/tok3.arpa (3-gram,
train_kenlm.py on the 160 training transcripts). Our model computes the encoder outputs of dev and test once; both
libraries decode those same tensors with `model.decoding` (rnnt_decoder_predictions_tensor). `ngram_lm_alpha` is
picked per library on dev from ALPHAS. Speed: test set in batches of 8, decoding only, one thread, best of 3.
Prints one JSON line.
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "collections", "asr", "data", "transducer")
ARPA = os.path.join(REPO, "tests", "collections", "asr", "data", "transducer_beam", "tok3.arpa")
MODELS = ("tdt_bpe", "rnnt_bpe_trained")
ALPHAS = (0.1, 0.2, 0.3, 0.5, 0.8)
BEAM = 4
BATCH = 8


def wer(hyps, refs):
    """Word error rate in percent (Levenshtein over words)."""
    errors = words = 0
    for h, r in zip(hyps, refs):
        h, r = h.split(), r.split()
        prev = list(range(len(r) + 1))
        for i, hw in enumerate(h, 1):
            cur = [i] + [0] * len(r)
            for j, rw in enumerate(r, 1):
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (hw != rw))
            prev = cur
        errors += prev[-1]
        words += len(r)
    return 100.0 * errors / max(words, 1)


def encode(corpus, out):
    """Our model's encoder outputs of dev and test (one .pt per model and split)."""
    import soundfile as sf
    import torch

    from nemo.collections.asr.models import ASRModel

    for name in MODELS:
        model = ASRModel.restore_from(os.path.join(GOLDEN, f"{name}.nemo"), map_location="cpu").eval()
        for split in ("dev", "test"):
            rows = [json.loads(line) for line in open(os.path.join(corpus, f"{split}_manifest.json"))]
            encs, refs = [], []
            for row in rows:
                audio, _ = sf.read(os.path.join(corpus, row["audio_filepath"]), dtype="float32")
                x = torch.tensor(audio)[None]
                with torch.inference_mode():
                    feats, flen = model.preprocessor(input_signal=x, length=torch.tensor([x.shape[1]]))
                    enc, elen = model.encoder(audio_signal=feats, length=flen)
                encs.append(enc[0, :, : int(elen[0])].clone())
                refs.append(row["text"])
            torch.save({"enc": encs, "refs": refs}, os.path.join(out, f"{name}_{split}.pt"))


def _batches(encs, batch):
    import torch

    for i in range(0, len(encs), batch):
        chunk = encs[i: i + batch]
        lengths = torch.tensor([e.shape[1] for e in chunk])
        padded = torch.zeros(len(chunk), chunk[0].shape[0], int(lengths.max()))
        for j, e in enumerate(chunk):
            padded[j, :, : e.shape[1]] = e
        yield padded, lengths


def decode_side(out):
    """Run in either interpreter: WERs and throughput of each strategy with that interpreter's `nemo`."""
    import copy

    import torch
    from omegaconf import open_dict

    from nemo.collections.asr.models import ASRModel

    torch.set_num_threads(1)
    result = {}
    for name in MODELS:
        model = ASRModel.restore_from(os.path.join(GOLDEN, f"{name}.nemo"), map_location="cpu").eval()
        base = copy.deepcopy(model.cfg.decoding)
        data = {s: torch.load(os.path.join(out, f"{name}_{s}.pt")) for s in ("dev", "test")}

        def run(split, strategy, beam=1, alpha=None, timed=False):
            cfg = copy.deepcopy(base)
            with open_dict(cfg):
                cfg.strategy = strategy
                cfg.compute_timestamps = False
                if cfg.get("beam", None) is None:
                    cfg.beam = {}
                cfg.beam.beam_size = beam
                if alpha is not None:
                    cfg.beam.ngram_lm_model = ARPA
                    cfg.beam.ngram_lm_alpha = alpha
            model.change_decoding_strategy(cfg)
            texts, best = [], float("inf")
            for _ in range(3 if timed else 1):
                texts, start = [], time.perf_counter()
                for enc, lengths in _batches(data[split]["enc"], BATCH):
                    with torch.inference_mode():
                        hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, lengths, return_hypotheses=True)
                    texts += [h.text for h in hyps]
                best = min(best, time.perf_counter() - start)
            return texts, len(texts) / best

        refs = data["test"]["refs"]
        dev_refs = data["dev"]["refs"]
        alpha = min(ALPHAS, key=lambda a: (wer(run("dev", "malsd_batch", BEAM, a)[0], dev_refs), a))
        entry = {"lm_alpha": alpha}
        runs = [("greedy_batch", ("greedy_batch",)), ("malsd_batch", ("malsd_batch", BEAM)),
                ("malsd_batch_lm", ("malsd_batch", BEAM, alpha))]
        if "tdt" not in name:  # maes_batch is RNN-T only
            runs += [("maes_batch", ("maes_batch", BEAM)), ("maes_batch_lm", ("maes_batch", BEAM, alpha))]
        for key, args in runs:
            texts, speed = run("test", *args, timed=True)
            entry[key] = {"wer": round(wer(texts, refs), 2), "utt_per_s": round(speed, 1), "texts": texts}
        result[name] = entry
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", default="/tmp/nemo_ref/bin/python")
    parser.add_argument("--corpus", default="/tmp/tcorpus")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "out", "transducer_beam"))
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.side:
        print(json.dumps(decode_side(args.out)))
        return
    encode(args.corpus, args.out)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    sides = {}
    for side, python in (("ours", sys.executable), ("nemo", args.ref)):
        cwd = REPO if side == "ours" else "/tmp"
        proc = subprocess.run([python, os.path.abspath(__file__), "--side", "--out", args.out], cwd=cwd, env=env,
                              capture_output=True, text=True, check=True)
        sides[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    with open(os.path.join(args.out, "texts.json"), "w") as f:
        json.dump(sides, f, indent=1)
    summary = {name: {side: {k: (v if not isinstance(v, dict) else {"wer": v["wer"], "utt_per_s": v["utt_per_s"]})
                             for k, v in sides[side][name].items()} for side in sides} for name in MODELS}
    for name in MODELS:
        keys = [k for k, v in sides["ours"][name].items() if isinstance(v, dict)]
        same = sum(a == b for k in keys
                   for a, b in zip(sides["ours"][name][k]["texts"], sides["nemo"][name][k]["texts"]))
        summary[name]["same_texts"] = f"{same}/{sum(len(sides['ours'][name][k]['texts']) for k in keys)}"
    print(json.dumps({"bench": "asr_transducer_beam_lm", "beam": BEAM, "batch": BATCH, **summary}))


if __name__ == "__main__":
    main()
