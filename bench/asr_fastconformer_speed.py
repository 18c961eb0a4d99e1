"""FastConformer speed, ours against NVIDIA NeMo 3.0.0: transcribe RTFx of a stt_en_fastconformer_ctc_large-size CTC model
at batch 1 and 16, training samples/s of a small FastConformer-CTC, and restore_from of a 0.6B FastConformer .nemo
against bare torch.load of its weights (time and peak extra RSS).

    python bench/asr_fastconformer_speed.py [--parts transcribe,train,restore] [--rounds 3]
        [--ref /tmp/nemo_ref/bin/python] [--model tdt]

`--model tdt` runs the transcribe and restore parts on the parakeet-tdt-0.6b-v2 architecture instead (greedy_batch;
random init, so it emits many tokens per frame up to `max_symbols`). Ours and NeMo run interleaved, each
measurement in a fresh process with one torch thread; the best of `--rounds` is kept. RTFx = audio seconds /
transcribe seconds (wall; `rtfx_cpu` uses the process's CPU time, which moves less on a shared box).
"""

import argparse
import hashlib
import json
import os
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastconformer_common import (  # noqa: E402
    OUT, REPO, build_ctc, build_tdt, ctc_config, machine, run_worker, speech_files, status_kb)

SCRIPT = os.path.abspath(__file__)


def _warm_file(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def work_transcribe(a):
    import soundfile as sf
    import torch

    torch.set_num_threads(a.threads)
    import nemo
    from nemo.collections.asr.models import ASRModel

    with open(a.files, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    model = ASRModel.restore_from(a.nemo, map_location="cpu")
    model.eval()
    if a.model == "tdt":
        from omegaconf import OmegaConf

        decoding = OmegaConf.create(OmegaConf.to_container(model.cfg.decoding))
        decoding.strategy = "greedy_batch"
        model.change_decoding_strategy(decoding, verbose=False) if "verbose" in \
            model.change_decoding_strategy.__code__.co_varnames else model.change_decoding_strategy(decoding)
    model.transcribe(paths[: max(2, a.batch_size)], batch_size=a.batch_size, verbose=False)
    cpu, start = time.process_time(), time.perf_counter()
    hyps = model.transcribe(paths, batch_size=a.batch_size, verbose=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if isinstance(hyps, tuple):
        hyps = hyps[0]
    audio = sum(sf.info(p).duration for p in paths)
    texts = [h if isinstance(h, str) else h.text for h in hyps]
    return {"nemo_file": nemo.__file__, "files": len(paths), "audio_s": round(audio, 1), "seconds": round(wall, 2),
            "cpu_s": round(cpu, 2), "rtfx": round(audio / wall, 2), "rtfx_cpu": round(audio / cpu, 2),
            "tokens": sum(len(t) for t in texts),
            "texts_md5": hashlib.md5("\n".join(texts).encode()).hexdigest()[:12]}


def work_train(a):
    import numpy as np
    import soundfile as sf
    import torch
    from omegaconf import OmegaConf

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    import nemo
    from nemo.collections.asr.models import EncDecCTCModel

    cfg = ctc_config("small", vocab=128)
    model = EncDecCTCModel(cfg=cfg)
    model.setup_optimization(OmegaConf.create({"name": "adamw", "lr": 1e-3, "betas": [0.9, 0.98],
                                               "weight_decay": 0.0}))
    optimizer = model._optimizer
    with open(a.files, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    rng = np.random.default_rng(0)
    batches = []
    for b in range(a.steps + 1):
        audio = [sf.read(p, dtype="float32")[0] for p in paths[b * a.batch_size:(b + 1) * a.batch_size]]
        sig = np.zeros((len(audio), max(map(len, audio))), dtype=np.float32)
        for i, x in enumerate(audio):
            sig[i, : len(x)] = x
        lens = [max(4, len(x) // 16000 * 8) for x in audio]  # ~8 targets per second, below the 12.5 frames/s
        tok = rng.integers(0, 128, size=(len(audio), max(lens)))
        batches.append((torch.from_numpy(sig), torch.tensor([len(x) for x in audio]), torch.from_numpy(tok),
                        torch.tensor(lens)))
    model.train()

    def step(batch):
        signal, signal_len, tokens, tokens_len = batch
        log_probs, encoded_len, _ = model(input_signal=signal, input_signal_length=signal_len)
        loss = model.loss(log_probs=log_probs, targets=tokens, input_lengths=encoded_len, target_lengths=tokens_len)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(batches[0])
    cpu, start = time.process_time(), time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    samples = a.steps * a.batch_size
    return {"nemo_file": nemo.__file__, "params": sum(p.numel() for p in model.parameters()),
            "samples_per_s": round(samples / wall, 2), "samples_per_cpu_s": round(samples / cpu, 2),
            "seconds": round(wall, 2)}


def work_restore(a):
    import torch

    torch.set_num_threads(a.threads)
    import nemo

    path = a.weights if a.how == "torch_load" else a.nemo
    if a.how != "torch_load":
        from nemo.collections.asr.models import ASRModel  # importing the collection is not part of restoring
    _warm_file(path)
    base = status_kb("VmRSS")
    start = time.perf_counter()
    if a.how == "torch_load":
        obj = torch.load(path, map_location="cpu", weights_only=True)
        weights = sum(t.numel() * t.element_size() for t in obj.values())
    else:
        obj = ASRModel.restore_from(path, map_location="cpu")
        weights = sum(t.numel() * t.element_size() for t in obj.state_dict().values())
    elapsed = time.perf_counter() - start
    extra = (status_kb("VmHWM") - base) * 1024
    return {"nemo_file": nemo.__file__, "seconds": round(elapsed, 2), "weights_gb": round(weights / 1e9, 3),
            "peak_extra_gb": round(extra / 1e9, 3), "peak_extra_x": round(extra / weights, 3)}


def worker(a):
    result = {"transcribe": work_transcribe, "train": work_train, "restore": work_restore}[a.part](a)
    print(json.dumps(result))


def best(runs, key, high=True):
    good = [r for r in runs if key in r]
    if not good:
        return runs[0] if runs else {}
    return max(good, key=lambda r: r[key]) if high else min(good, key=lambda r: r[key])


def interleave(a, args, rounds, key, high=True, cap=0.0):
    """Best-of-`rounds` for ours and NeMo, alternating which goes first."""
    runs = {"ours": [], "nemo": []}
    for r in range(rounds):
        order = [("ours", sys.executable), ("nemo", a.ref)] if r % 2 == 0 else [("nemo", a.ref), ("ours", sys.executable)]
        for name, python in order:
            if python:
                runs[name].append(run_worker(python, SCRIPT, args, cap))
                print(json.dumps({"progress": name, **runs[name][-1]}), file=sys.stderr)
    out = {name: best(v, key, high) for name, v in runs.items() if v}
    for v in out.values():
        v.pop("nemo_file", None)
    if "ours" in out and "nemo" in out and key in out["ours"] and key in out["nemo"]:
        ratio = out["ours"][key] / out["nemo"][key] if high else out["nemo"][key] / out["ours"][key]
        out["ours_over_nemo"] = round(ratio, 2)
        cpu_key = {"rtfx": "rtfx_cpu", "samples_per_s": "samples_per_cpu_s"}.get(key)
        if cpu_key:  # each side's best CPU figure (a round's wall and CPU bests may differ on a busy box)
            ours_cpu, nemo_cpu = (max(r.get(cpu_key, 0) for r in runs[n]) for n in ("ours", "nemo"))
            out["ours_over_nemo_cpu"] = round(ours_cpu / nemo_cpu, 2) if nemo_cpu else None
    return out


def extract_weights(nemo_path: str, dest: str) -> str:
    """The archive's model_weights.ckpt as a plain file (what bare torch.load reads)."""
    if not os.path.exists(dest):
        with tarfile.open(nemo_path, "r:*") as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("model_weights.ckpt"))
            with tar.extractfile(member) as src, open(dest + ".tmp", "wb") as out:
                while True:
                    block = src.read(1 << 24)
                    if not block:
                        break
                    out.write(block)
        os.replace(dest + ".tmp", dest)
    return dest


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="transcribe,train,restore")
    p.add_argument("--model", choices=["ctc", "tdt"], default="ctc")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--files-count", type=int, default=48, help="utterances transcribed per measurement")
    p.add_argument("--batch-sizes", default="1,16")
    p.add_argument("--train-batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ref", default=None, help="python of a venv with nemo-toolkit==3.0.0")
    p.add_argument("--keep", action="store_true", help="keep the 0.6B .nemo and weights file (2.4 GB each)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--part", "--nemo", "--files", "--how", "--weights"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    parts = [x for x in a.parts.split(",") if x]
    result = {"bench": "asr_fastconformer_speed", "model": a.model, **machine(), "threads": a.threads,
              "rounds": a.rounds}
    common = ["--threads", a.threads, "--model", a.model]
    if "transcribe" in parts:
        nemo_file = os.path.join(OUT, "fastconformer_ctc_large_untrained.nemo" if a.model == "ctc"
                                 else "parakeet_tdt_0.6b_v2_untrained.nemo")
        (build_ctc("large", nemo_file) if a.model == "ctc" else build_tdt(nemo_file))
        paths, audio = speech_files(a.files_count)
        files = os.path.join(OUT, "fastconformer_speed_files.txt")
        with open(files, "w", encoding="utf-8") as f:
            f.write("\n".join(paths) + "\n")
        for bs in [int(x) for x in a.batch_sizes.split(",") if x]:
            result[f"transcribe_batch{bs}"] = interleave(
                a, ["--part", "transcribe", "--nemo", nemo_file, "--files", files, "--batch-size", bs] + common,
                a.rounds, "rtfx")
    if "train" in parts and a.model == "ctc":
        paths, _ = speech_files((a.steps + 1) * a.train_batch_size)
        files = os.path.join(OUT, "fastconformer_train_files.txt")
        with open(files, "w", encoding="utf-8") as f:
            f.write("\n".join(paths) + "\n")
        result["train_small"] = interleave(
            a, ["--part", "train", "--files", files, "--batch-size", a.train_batch_size, "--steps", a.steps] + common,
            a.rounds, "samples_per_s")
        result["train_small"].update(batch_size=a.train_batch_size, steps=a.steps)
    if "restore" in parts:
        nemo_file = os.path.join(OUT, "fastconformer_ctc_0.6b_untrained.nemo" if a.model == "ctc"
                                 else "parakeet_tdt_0.6b_v2_untrained.nemo")
        (build_ctc("xlarge", nemo_file) if a.model == "ctc" else build_tdt(nemo_file))
        weights = extract_weights(nemo_file, nemo_file + ".weights.ckpt")
        args = ["--part", "restore", "--nemo", nemo_file, "--weights", weights] + common
        res = {}
        for side, python in (("ours", sys.executable), ("nemo", a.ref)):
            if not python:
                continue
            rs, ls = [], []
            for _ in range(a.rounds):
                rs.append(run_worker(python, SCRIPT, args + ["--how", "restore_from"]))
                ls.append(run_worker(python, SCRIPT, args + ["--how", "torch_load"]))
            r, l = best(rs, "seconds", high=False), best(ls, "seconds", high=False)
            for v in (r, l):
                v.pop("nemo_file", None)
            res[side] = {"restore_from": r, "torch_load": l}
            if "seconds" in r and "seconds" in l:
                res[side]["restore_over_torch_load"] = round(r["seconds"] / l["seconds"], 2)
            print(json.dumps({"progress": side, **res[side]}), file=sys.stderr)
        result["restore_0.6b"] = res
        if not a.keep:
            os.remove(weights)
            if a.model == "ctc":
                os.remove(nemo_file)
    result["load_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
