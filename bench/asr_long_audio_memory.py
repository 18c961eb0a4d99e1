"""Peak memory of `transcribe()` on long audio files (issue 18): chunked (the default) against one pass.

Each measurement runs in a fresh interpreter: build a seeded untrained model of the YAML, warm up twice on 5 minutes
of audio (so every chunk batch shape has been seen), then transcribe one WAV of N minutes (low noise, 16 kHz).
Growth = VmHWM after - VmHWM before; per-minute figures are the slope between the shortest and longest file.

    python bench/asr_long_audio_memory.py [--config examples/asr/conf/quartznet/quartznet_15x5.yaml]
        [--minutes 1,10,60] [--one-pass-minutes 1,10] [--batch-size 4]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "examples", "asr", "conf", "quartznet", "quartznet_15x5.yaml")


def _hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def worker(a):
    import numpy as np
    import torch
    from omegaconf import OmegaConf

    from nemo.collections.asr.models import EncDecCTCModel

    torch.set_num_threads(a.threads)
    cfg = OmegaConf.load(a.config).model
    for key in ("train_ds", "validation_ds", "test_ds"):
        cfg.pop(key, None)
    torch.manual_seed(0)
    model = EncDecCTCModel(cfg=cfg)
    chunk = None if a.one_pass else 60.0
    rng = np.random.default_rng(1)
    for _ in range(2):  # twice: the allocator's high-water mark settles after the first
        warm = (rng.standard_normal(16000 * (300 if chunk else 10)) * 1e-3).astype(np.float32)
        model.transcribe([warm], batch_size=a.batch_size, verbose=False, chunk_duration_s=chunk)
        del warm
    before = _hwm_mb()
    start = time.perf_counter()
    hyp = model.transcribe([a.wav], batch_size=a.batch_size, verbose=False, chunk_duration_s=chunk)[0]
    wall = time.perf_counter() - start
    print(json.dumps({"before_mb": round(before, 1), "peak_mb": round(_hwm_mb(), 1),
                      "growth_mb": round(_hwm_mb() - before, 1), "seconds": round(wall, 1), "chars": len(hyp.text)}))


def write_wav(path: str, minutes: float) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        left = int(minutes * 60 * 16000)
        while left > 0:
            n = min(left, 16000 * 60)
            f.write((rng.standard_normal(n) * 30).astype(np.int16))
            left -= n


def run(a, wav: str, one_pass: bool) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--wav", wav, "--config", a.config,
           "--batch-size", str(a.batch_size), "--threads", str(a.threads)] + (["--one-pass"] if one_pass else [])
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=str(a.threads))
    out = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=CONFIG)
    p.add_argument("--minutes", default="1,10,60")
    p.add_argument("--one-pass-minutes", default="1,10")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--one-pass", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--wav", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    a.config = os.path.abspath(a.config)
    if a.worker:
        return worker(a)
    chunked_minutes = [float(m) for m in a.minutes.split(",") if m]
    one_pass_minutes = [float(m) for m in a.one_pass_minutes.split(",") if m]
    result = {"bench": "asr_long_audio_memory", "config": os.path.relpath(os.path.abspath(a.config), REPO),
              "batch_size": a.batch_size, "threads": a.threads, "load": round(os.getloadavg()[0], 2),
              "chunked": {}, "one_pass": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in sorted(set(chunked_minutes) | set(one_pass_minutes)):
            wav = os.path.join(tmp, f"{minutes:g}min.wav")
            write_wav(wav, minutes)
            if minutes in chunked_minutes:
                result["chunked"][f"{minutes:g}"] = run(a, wav, one_pass=False)
            if minutes in one_pass_minutes:
                result["one_pass"][f"{minutes:g}"] = run(a, wav, one_pass=True)
            os.remove(wav)
    for mode in ("chunked", "one_pass"):
        runs = {float(k): v for k, v in result[mode].items() if "growth_mb" in v}
        if len(runs) >= 2:
            lo, hi = min(runs), max(runs)
            result[f"{mode}_mb_per_audio_minute"] = round((runs[hi]["growth_mb"] - runs[lo]["growth_mb"]) / (hi - lo), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
