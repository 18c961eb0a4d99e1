"""Shared pieces of the FastConformer/Parakeet benchmarks: model configs, test audio, workers run under either library.

Workers use only NeMo's public API (`restore_from`, `transcribe`, `change_attention_model`), so the same code runs
under this repository's interpreter and under NVIDIA NeMo 3.0.0's (`--ref`); each runs in a fresh subprocess
whose peak RSS is its own, and a watchdog stops one whose RSS passes `--rss-cap-gb` (the box is shared).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "bench", "out")
FC_YAML = os.path.join(REPO, "examples", "asr", "conf", "fastconformer", "fast-conformer_ctc_bpe.yaml")
TDT_YAML = os.path.join(REPO, "tests", "collections", "asr", "data", "fastconformer", "parakeet_tdt_0.6b_v2_config.yaml")

# Rows of NeMo's fast-conformer_ctc_bpe.yaml size table (other values as in the YAML).
SIZES = {
    "small": dict(d_model=176, n_heads=4, n_layers=16),
    "large": dict(d_model=512, n_heads=8, n_layers=18),  # stt_en_fastconformer_ctc_large (115M)
    "xlarge": dict(d_model=1024, n_heads=8, n_layers=24, xscaling=False),  # ~0.6B, the Parakeet encoder's shape
}


def status_kb(field: str, pid="self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def ctc_config(size: str, vocab: int = 1024):
    """The FastConformer-CTC model config of one size row, with a `vocab`-label character vocabulary.

    Characters rather than SentencePiece so no tokenizer has to be trained; the decoder then has the same shape
    as a BPE model's with `vocab` pieces (stt_en_fastconformer_ctc_large: 1024).
    """
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(FC_YAML).model
    for key, value in SIZES[size].items():
        cfg.encoder[key] = value
    labels = [chr(0x4E00 + i) for i in range(vocab)]
    cfg.pop("tokenizer")
    cfg.labels = labels
    cfg.decoder.vocabulary = labels
    cfg.decoder.num_classes = vocab
    for key in ("train_ds", "validation_ds", "test_ds"):
        cfg[key].manifest_filepath = None
    cfg.train_ds.labels = cfg.validation_ds.labels = cfg.test_ds.labels = labels
    cfg.target = "nemo.collections.asr.models.ctc_models.EncDecCTCModel"
    return cfg


def build_ctc(size: str, path: str, seed: int = 0) -> int:
    """Save a seeded untrained FastConformer-CTC of `size` to `path` (if missing); returns the parameter count."""
    import torch

    from nemo.collections.asr.models import EncDecCTCModel

    if os.path.exists(path):
        return -1
    torch.manual_seed(seed)
    model = EncDecCTCModel(cfg=ctc_config(size))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save_to(path)
    return sum(p.numel() for p in model.parameters())


def build_tdt(path: str, seed: int = 0) -> int:
    """Save a seeded untrained parakeet-tdt-0.6b-v2 (its config, its 1024-piece tokenizer) to `path` if missing."""
    import torch
    from omegaconf import OmegaConf, open_dict

    from nemo.collections.asr.models import EncDecRNNTBPEModel

    if os.path.exists(path):
        return -1
    cfg = OmegaConf.load(TDT_YAML)
    cfg = cfg.get("model", cfg)
    tok_dir = os.path.join(OUT, "tdt_tokenizer")
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.model")):
        _train_tokenizer(tok_dir, int(cfg.decoder.vocab_size))
    with open_dict(cfg):
        cfg.tokenizer = {"dir": tok_dir, "type": "bpe"}
    for key in ("train_ds", "validation_ds", "test_ds"):
        if key in cfg:
            cfg[key].manifest_filepath = None
    torch.manual_seed(seed)
    model = EncDecRNNTBPEModel(cfg=cfg)
    model.save_to(path)
    return sum(p.numel() for p in model.parameters())


def _train_tokenizer(folder: str, vocab: int) -> None:
    """A SentencePiece BPE of `vocab` pieces trained on seeded pseudo-words (only its size matters here)."""
    import random

    import sentencepiece as spm

    rng = random.Random(0)
    os.makedirs(folder, exist_ok=True)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(6000)]
    text = os.path.join(folder, "text.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12)) + "\n")
    prefix = os.path.join(folder, "tokenizer")
    spm.SentencePieceTrainer.train(input=text, model_prefix=prefix, vocab_size=vocab, model_type="bpe",
                                   character_coverage=1.0, bos_id=-1, eos_id=-1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(sp.id_to_piece(i) + "\n" for i in range(sp.get_piece_size())))


def speech_files(count: int, seed: int = 2):
    """Paths of `count` espeak-ng test utterances (synthesised once under bench/out) and their total seconds."""
    import soundfile as sf

    from nemo.collections.asr.data.synth import synthesize_corpus

    manifest = synthesize_corpus(os.path.join(OUT, "asr_test_corpus"), 0, 0, max(count, 64), seed=seed)["test"]
    base = os.path.dirname(os.path.abspath(manifest))
    with open(manifest, encoding="utf-8") as f:
        paths = [os.path.join(base, json.loads(line)["audio_filepath"]) for line in f if line.strip()][:count]
    return paths, sum(sf.info(p).duration for p in paths)


def long_wav(minutes: float) -> str:
    """A 16 kHz WAV of `minutes` of espeak-ng speech (test utterances end to end, looped), made once."""
    import numpy as np
    import soundfile as sf

    path = os.path.join(OUT, "long_audio", f"speech_{minutes:g}min.wav")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    paths, _ = speech_files(64)
    clips = [sf.read(p, dtype="float32")[0] for p in paths]
    gap = np.zeros(4000, dtype=np.float32)
    total, k = int(minutes * 60 * 16000), 0
    tmp = path + ".tmp.wav"
    with sf.SoundFile(tmp, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        written = 0
        while written < total:
            piece = np.concatenate([clips[k % len(clips)], gap])[: total - written]
            f.write(piece)
            written += piece.shape[0]
            k += 1
    os.replace(tmp, path)
    return path


def run_worker(python: str, script: str, args, rss_cap_gb: float = 0.0, timeout: float = 3600.0) -> dict:
    """Run `script --worker args...` under `python` in a fresh process; its last stdout line is JSON.

    Ours gets this repository on PYTHONPATH, NeMo's interpreter an environment without it. Returns
    {"error": ...} when the worker fails, is stopped at the RSS cap, or runs past `timeout`.
    """
    ours = os.path.abspath(python) == os.path.abspath(sys.executable)  # venvs may share one base interpreter
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if ours:
        env["PYTHONPATH"] = REPO
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    proc = subprocess.Popen([python, script, "--worker"] + [str(a) for a in args], cwd=tempfile.gettempdir(),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    capped = {"peak_kb": 0, "hit": False}

    def watch():
        while proc.poll() is None:
            try:
                rss = status_kb("VmRSS", proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                return
            capped["peak_kb"] = max(capped["peak_kb"], rss)
            if rss_cap_gb and rss > rss_cap_gb * 1024 * 1024:
                capped["hit"] = True
                proc.kill()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"ran past {timeout:.0f} s"}
    watcher.join()
    if capped["hit"]:
        return {"error": f"stopped: RSS passed the {rss_cap_gb:g} GB cap"}
    if proc.returncode != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1][-300:] if lines else f"exit {proc.returncode}"}
    result = json.loads(stdout.strip().splitlines()[-1])
    if not ours and os.path.realpath(result.get("nemo_file", "")).startswith(REPO):
        raise SystemExit(f"{python} imported this repository's nemo, not NVIDIA's")
    return result


def machine() -> dict:
    """Date, load average and CPU model, for the JSON line."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": model, "cores": os.cpu_count(),
            "load": [round(x, 2) for x in os.getloadavg()]}
