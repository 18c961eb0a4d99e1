"""Training throughput (samples/s, audio-seconds/s) of the small QuartzNet: forward, CTC loss, backward, Novograd step
on fixed batches of real speech; with --ref, the same loop under NVIDIA NeMo 3.0.0 and the ratio.

    python bench/asr_train.py [--batch-size 16] [--steps 8] [--rounds 2] [--threads 1] [--ref /tmp/nemo_ref/bin/python]

The same worker code runs under both interpreters (the model API is the same), so only the library differs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "examples", "asr", "conf", "quartznet", "quartznet_demo.yaml")
CORPUS = os.path.join(REPO, "bench", "out", "asr_corpus")


def load_batches(manifest, labels, batch_size, count):
    """`count` padded batches (signal, signal_len, tokens, tokens_len) of consecutive manifest lines."""
    import numpy as np
    import soundfile as sf
    import torch

    base = os.path.dirname(manifest)
    with open(manifest, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    index = {c: i for i, c in enumerate(labels)}
    batches = []
    for b in range(count):
        chunk = items[b * batch_size:(b + 1) * batch_size]
        audio = [sf.read(os.path.join(base, it["audio_filepath"]), dtype="float32")[0] for it in chunk]
        tokens = [[index[c] for c in it["text"]] for it in chunk]
        sig = np.zeros((len(audio), max(map(len, audio))), dtype=np.float32)
        tok = np.zeros((len(tokens), max(map(len, tokens))), dtype=np.int64)
        for i, (a, t) in enumerate(zip(audio, tokens)):
            sig[i, :len(a)], tok[i, :len(t)] = a, t
        batches.append((torch.from_numpy(sig), torch.tensor([len(a) for a in audio]),
                        torch.from_numpy(tok), torch.tensor([len(t) for t in tokens])))
    return batches


def worker(a):
    """Build the model from the YAML, run warm-up and timed steps; print one JSON line."""
    import torch
    from omegaconf import OmegaConf

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    import nemo
    from nemo.collections.asr.models import EncDecCTCModel

    cfg = OmegaConf.load(a.config).model
    cfg.train_ds.manifest_filepath = cfg.validation_ds.manifest_filepath = None
    cfg.pop("test_ds", None)
    model = EncDecCTCModel(cfg=cfg)
    model.setup_optimization(OmegaConf.create({"name": "novograd", "lr": 0.01, "betas": [0.8, 0.5], "weight_decay": 0.001}))
    optimizer = model._optimizer
    batches = load_batches(a.manifest, list(cfg.labels), a.batch_size, a.steps + 1)
    model.train()

    def step(batch):
        signal, signal_len, tokens, tokens_len = batch
        log_probs, encoded_len, _ = model(input_signal=signal, input_signal_length=signal_len)
        loss = model.loss(log_probs=log_probs, targets=tokens, input_lengths=encoded_len, target_lengths=tokens_len)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(batches[0])  # warm-up
    cpu, start = time.process_time(), time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    samples = a.steps * a.batch_size
    audio_s = sum(float(b[1].sum()) for b in batches[1:]) / cfg.sample_rate
    print(json.dumps({"nemo_file": nemo.__file__, "params": sum(p.numel() for p in model.parameters()),
                      "samples_per_s": round(samples / wall, 2), "audio_s_per_s": round(audio_s / wall, 2),
                      "samples_per_cpu_s": round(samples / cpu, 2), "wall_s": round(wall, 2)}))


def run_worker(python, a, env):
    cmd = [python, os.path.abspath(__file__), "--worker", "--config", a.config, "--manifest", a.manifest,
           "--batch-size", str(a.batch_size), "--steps", str(a.steps), "--threads", str(a.threads)]
    out = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{python} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=CONFIG)
    p.add_argument("--manifest", default=None, help="train manifest (default: a corpus synthesised in bench/out)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="ours/NeMo runs interleaved this many times; best kept")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ref", default=None, help="python of a venv with nemo-toolkit==3.0.0 installed")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    if a.manifest is None:
        from nemo.collections.asr.data.synth import synthesize_corpus

        a.manifest = synthesize_corpus(CORPUS, (a.steps + 1) * a.batch_size, 0, 0, seed=1)["train"]
    a.manifest, a.config = os.path.abspath(a.manifest), os.path.abspath(a.config)
    ours_env = dict(os.environ, PYTHONPATH=REPO)
    ref_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    runs = {"ours": [], "nemo": []}
    for _ in range(a.rounds):
        runs["ours"].append(run_worker(sys.executable, a, ours_env))
        if a.ref:
            runs["nemo"].append(run_worker(a.ref, a, ref_env))
    result = {"bench": "asr_train", "load": round(os.getloadavg()[0], 2), "batch_size": a.batch_size,
              "steps": a.steps, "threads": a.threads}
    for name, values in runs.items():
        if values:
            result[name] = max(values, key=lambda r: r["samples_per_s"])
    if a.ref:
        if os.path.realpath(result["nemo"]["nemo_file"]).startswith(REPO):
            raise SystemExit("--ref interpreter imported this repository's nemo, not NVIDIA's")
        result["ratio_ours_over_nemo"] = round(result["ours"]["samples_per_s"] / result["nemo"]["samples_per_s"], 2)
        result["ratio_cpu_ours_over_nemo"] = round(
            result["ours"]["samples_per_cpu_s"] / result["nemo"]["samples_per_cpu_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
