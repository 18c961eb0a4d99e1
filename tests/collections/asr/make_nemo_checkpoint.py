"""Write `data/nemo_tiny_ctc.ckpt`: a tiny EncDecCTCModel trained 2 steps by whichever `nemo` runs this; run under
NVIDIA NeMo 3.0.0's interpreter it gives a checkpoint with NeMo's pickled configs for test_nemo_checkpoint.py.

    /tmp/nemo_ref/bin/python tests/collections/asr/make_nemo_checkpoint.py tests/collections/asr/data/nemo_tiny_ctc.ckpt
"""

import json
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


def tone_corpus(root, n=6, sr=16000, relative=False):
    """Tone patterns whose transcripts are letter pairs: a tiny learnable task (the ASR unit tests' corpus too).
    Audio paths are absolute (NeMo-style), or relative to the manifest with `relative`."""
    rng = np.random.default_rng(0)
    tones = {"a": 440.0, "b": 880.0, "c": 1320.0}
    lines = []
    for i in range(n):
        text = " ".join("abc"[(i + j) % 3] for j in range(2))
        pieces = [np.sin(2 * np.pi * tones[w] * np.arange(int(0.25 * sr)) / sr) if w != " " else np.zeros(int(0.1 * sr))
                  for w in text]
        audio = (0.5 * np.concatenate(pieces) + 0.01 * rng.standard_normal(sum(map(len, pieces)))).astype(np.float32)
        path = os.path.join(root, f"u{i}.wav")
        sf.write(path, audio, sr)
        lines.append(json.dumps({"audio_filepath": f"u{i}.wav" if relative else path, "duration": len(audio) / sr,
                                 "text": text}))
    manifest = os.path.join(root, "tones.json")
    with open(manifest, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return manifest


def tiny_cfg(manifest):
    from omegaconf import OmegaConf

    block = dict(filters=16, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    ds = {"manifest_filepath": manifest, "batch_size": 3, "shuffle": False, "num_workers": 0, "labels": LABELS,
          "sample_rate": 16000}
    return OmegaConf.create({
        "sample_rate": 16000,
        "labels": LABELS,
        "train_ds": dict(ds, shuffle=True),
        "validation_ds": ds,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": 16, "n_fft": 512, "dither": 0.0},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 16, "activation": "relu",
                    "conv_mask": True, "jasper": [dict(block, stride=[2], kernel=[11]), dict(block, residual=True)]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": 16,
                    "num_classes": len(LABELS), "vocabulary": LABELS},
        "optim": {"name": "adam", "lr": 0.01},
    })


def main(out_path):
    import lightning.pytorch as pl

    import nemo
    from nemo.collections.asr.models import EncDecCTCModel

    pl.seed_everything(0)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = tone_corpus(tmp)
        trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                             limit_val_batches=0)
        model = EncDecCTCModel(cfg=tiny_cfg(manifest), trainer=trainer)
        trainer.fit(model)
        trainer.save_checkpoint(out_path)
    print(nemo.__file__)


if __name__ == "__main__":
    main(sys.argv[1])
