"""`transcribe()` real-time factor of a restored small QuartzNet on real speech; with --ref, NVIDIA NeMo 3.0.0
restoring the same .nemo (written here) and transcribing the same files, and the speed ratio.

    python bench/asr_transcribe.py [--nemo demo_out/quartznet_demo.nemo | --config conf.yaml] [--files 64]
        [--ref /tmp/nemo_ref/bin/python]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "bench", "out")
CONFIG = os.path.join(REPO, "examples", "asr", "conf", "quartznet", "quartznet_demo.yaml")


def worker(a):
    """Restore, transcribe once to warm up (4 files), then time transcribing all files; print one JSON line."""
    import soundfile as sf
    import torch

    torch.set_num_threads(a.threads)
    import nemo
    from nemo.collections.asr.models import EncDecCTCModel

    with open(a.files_list, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    start = time.perf_counter()
    model = EncDecCTCModel.restore_from(a.nemo, map_location="cpu")
    restore_s = time.perf_counter() - start
    model.transcribe(paths[:4], batch_size=a.batch_size, verbose=False)
    cpu, start = time.process_time(), time.perf_counter()
    hyps = model.transcribe(paths, batch_size=a.batch_size, verbose=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    audio_s = sum(sf.info(p).duration for p in paths)
    texts = [h if isinstance(h, str) else h.text for h in hyps]
    print(json.dumps({"nemo_file": nemo.__file__, "files": len(paths), "audio_s": round(audio_s, 1),
                      "restore_s": round(restore_s, 3), "transcribe_s": round(wall, 3), "rtf": round(wall / audio_s, 4),
                      "rtf_cpu": round(cpu / audio_s, 4), "texts": texts}))


def run_worker(python, a, files_list, env):
    cmd = [python, os.path.abspath(__file__), "--worker", "--nemo", a.nemo, "--files-list", files_list,
           "--batch-size", str(a.batch_size), "--threads", str(a.threads)]
    out = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{python} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def default_nemo(config=None):
    """With `config`, a seeded untrained model of that YAML saved to bench/out; else the demo's trained model if
    there is one, else an untrained demo-config model."""
    trained = os.path.join(REPO, "demo_out", "quartznet_demo.nemo")
    if config is None and os.path.exists(trained):
        return trained
    import torch
    from omegaconf import OmegaConf

    from nemo.collections.asr.models import EncDecCTCModel

    config = config or CONFIG
    cfg = OmegaConf.load(config).model
    cfg.train_ds.manifest_filepath = cfg.validation_ds.manifest_filepath = None
    cfg.pop("test_ds", None)
    path = os.path.join(OUT, os.path.splitext(os.path.basename(config))[0] + "_untrained.nemo")
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    EncDecCTCModel(cfg=cfg).save_to(path)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nemo", default=None)
    p.add_argument("--config", default=None, help="benchmark an untrained model of this YAML (e.g. quartznet_15x5)")
    p.add_argument("--files", type=int, default=64, help="how many test utterances to transcribe")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ref", default=None, help="python of a venv with nemo-toolkit==3.0.0 installed")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--files-list", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    from nemo.collections.asr.data.synth import synthesize_corpus

    manifest = synthesize_corpus(os.path.join(OUT, "asr_test_corpus"), 0, 0, a.files, seed=2)["test"]
    base = os.path.dirname(os.path.abspath(manifest))
    with open(manifest, encoding="utf-8") as f:
        paths = [os.path.join(base, json.loads(line)["audio_filepath"]) for line in f if line.strip()]
    files_list = os.path.join(OUT, "asr_transcribe_files.txt")
    with open(files_list, "w", encoding="utf-8") as f:
        f.write("\n".join(paths) + "\n")
    a.nemo = os.path.abspath(a.nemo or default_nemo(a.config))
    ours_env = dict(os.environ, PYTHONPATH=REPO)
    ref_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    runs = {"ours": [], "nemo": []}
    for _ in range(a.rounds):
        runs["ours"].append(run_worker(sys.executable, a, files_list, ours_env))
        if a.ref:
            runs["nemo"].append(run_worker(a.ref, a, files_list, ref_env))
    result = {"bench": "asr_transcribe", "load": round(os.getloadavg()[0], 2), "model": os.path.relpath(a.nemo, REPO),
              "batch_size": a.batch_size, "threads": a.threads}
    for name, values in runs.items():
        if values:
            result[name] = min(values, key=lambda r: r["rtf"])
    texts = result["ours"].pop("texts")
    if a.ref:
        ref = result["nemo"]
        if os.path.realpath(ref["nemo_file"]).startswith(REPO):
            raise SystemExit("--ref interpreter imported this repository's nemo, not NVIDIA's")
        result["same_transcripts"] = sum(x == y for x, y in zip(texts, ref.pop("texts")))
        result["speedup_ours_over_nemo"] = round(ref["rtf"] / result["ours"]["rtf"], 2)
        result["speedup_cpu_ours_over_nemo"] = round(ref["rtf_cpu"] / result["ours"]["rtf_cpu"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
