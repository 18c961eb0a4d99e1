"""The seed's nested-model example at work: fine-tune an ASR model with ASRWithTTSModel on text voiced on the fly.

    python examples/tts/asr_with_tts_run.py --asr demo_out/quartznet_demo.nemo --tts FastPitch16k.nemo \
        --audio-train demo_out/corpus/train_manifest.json --test demo_out/corpus/test_manifest.json \
        --out bench/out/tts/hybrid --steps 150

The FastPitch model must produce the ASR preprocessor's features (16 kHz, 64 mels, 20/10 ms, power 2,
pre-emphasis). Two fine-tunes of the same ASR model for the same number of steps are compared: real audio
only, and real audio mixed round-robin with new sentences voiced by the frozen FastPitch. Test WER before and
after each, then the hybrid is saved as one .nemo, restored, and checked.
"""

import argparse
import json
import os
import tarfile
import time

import numpy as np
import torch


def text_manifest(path, n, seed, exclude):
    from nemo.collections.asr.data.synth.text import utterance_text

    rng = np.random.default_rng(seed)
    lines = []
    while len(lines) < n:
        t = utterance_text(rng, 0.4)
        if t not in exclude:
            lines.append(json.dumps({"text": t}))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def wer_of(asr, manifest):
    from nemo.collections.asr.metrics.wer import word_error_rate
    from nemo.collections.tts.data.dataset import read_tts_manifest

    entries = read_tts_manifest(manifest)
    hyps = asr.transcribe([e["audio_filepath"] for e in entries], batch_size=16, verbose=False)
    hyps = [h if isinstance(h, str) else h.text for h in hyps]
    return round(word_error_rate(hyps, [e["text"] for e in entries]), 4)


def finetune(args, with_text, text_path):
    import lightning.pytorch as pl
    from omegaconf import OmegaConf

    from nemo.collections.asr.models.hybrid_asr_tts_models import ASRWithTTSModel

    train_ds = {"manifest_filepath": args.audio_train, "batch_size": args.batch_size, "shuffle": True,
                "trim_silence": False}
    if with_text:
        train_ds["text_data"] = {"manifest_filepath": text_path, "speakers_filepath": None,
                                 "asr_tts_sampling_technique": "round-robin"}
    cfg = OmegaConf.create({"train_ds": train_ds, "optim": {"name": "adamw", "lr": args.lr, "weight_decay": 1e-3}})
    pl.seed_everything(0)
    model = ASRWithTTSModel.from_pretrained_models(asr_model_path=args.asr, tts_model_path=args.tts, cfg=cfg)
    trainer = pl.Trainer(max_steps=args.steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    start = time.time()
    trainer.fit(model)
    return model, time.time() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--asr", required=True)
    p.add_argument("--tts", required=True)
    p.add_argument("--audio-train", required=True)
    p.add_argument("--test", required=True, action="append", help="test manifest(s) to report WER on")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--text-sentences", type=int, default=2000)
    a = p.parse_args(argv)
    torch.set_num_threads(1 if os.getloadavg()[0] > (os.cpu_count() or 1) - 0.5 else (os.cpu_count() or 1))
    os.makedirs(a.out, exist_ok=True)

    from nemo.collections.asr.models import ASRModel
    from nemo.collections.asr.models.hybrid_asr_tts_models import ASRWithTTSModel
    from nemo.collections.tts.data.dataset import read_tts_manifest

    exclude = {e["text"] for m in a.test for e in read_tts_manifest(m)}
    text_path = text_manifest(os.path.join(a.out, "text_only.json"), a.text_sentences, 7, exclude)
    results = {"steps": a.steps, "batch_size": a.batch_size, "lr": a.lr, "text_sentences": a.text_sentences}
    base = ASRModel.restore_from(a.asr).eval()
    results["before"] = {m: wer_of(base, m) for m in a.test}
    for name, with_text in (("audio_only", False), ("audio_plus_tts_text", True)):
        model, seconds = finetune(a, with_text, text_path)
        results[name] = {m: wer_of(model.asr_model, m) for m in a.test}
        results[name]["train_seconds"] = round(seconds, 1)
        print(name, results[name], flush=True)
    path = os.path.join(a.out, "asr_with_tts.nemo")
    model.save_to(path)
    with tarfile.open(path) as tar:
        results["nemo_members"] = sorted(n for n in tar.getnames() if not n.endswith("model_weights.ckpt"))
    restored = ASRWithTTSModel.restore_from(path)
    same = all(torch.equal(v, restored.state_dict()[k]) for k, v in model.state_dict().items())
    results["restored_identical_weights"] = same
    results["nemo_mb"] = round(os.path.getsize(path) / 1e6, 2)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
