"""An n-gram LM nested in a CTC model: one .nemo carries both; a fresh offline process restores it and decodes
with the LM by default."""

import json
import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModel
from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel, estimate_kneser_ney

LABELS = list(" ab'")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 6))

RESTORE = """
import json, sys, torch
from nemo.collections.asr.models import EncDecCTCModel
model = EncDecCTCModel.restore_from(sys.argv[1]).eval()
audio = torch.load(sys.argv[2], weights_only=True)
hyps = model.transcribe([a.numpy() for a in audio], batch_size=2, return_hypotheses=True, verbose=False)
print(json.dumps({"strategy": model.cfg.decoding.strategy,
                  "lm_used": model.decoding.decoding.ngram_lm is model.ngram_lm,
                  "texts": [h.text for h in hyps], "scores": [h.score for h in hyps]}))
"""


def _tiny_model():
    block = dict(filters=16, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    cfg = OmegaConf.create({
        "sample_rate": 16000, "labels": LABELS,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": 16, "n_fft": 512, "dither": 0.0},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 16, "activation": "relu",
                    "conv_mask": True, "jasper": [block]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None, "num_classes": -1,
                    "vocabulary": LABELS},
        "optim": {"name": "adam", "lr": 0.01}})
    torch.manual_seed(0)
    return EncDecCTCModel(cfg).eval()


def test_nested_lm_save_restore_in_fresh_offline_process(tmp_path):
    model = _tiny_model()
    lm = NGramGPULanguageModel.from_table(estimate_kneser_ney([[1, 2, 1], [1, 1, 0, 2], [2, 0, 1]], 3), vocab_size=4)
    model.set_ngram_lm(lm)
    assert model.cfg.decoding.strategy == "beam_batch" and model.decoding.decoding.ngram_lm is lm
    model.change_decoding_strategy(OmegaConf.merge(model.cfg.decoding, {"beam": {"ngram_lm_alpha": 2.0}}))
    assert model.decoding.decoding.ngram_lm is lm  # a rebuilt decoding keeps the nested LM
    path = str(tmp_path / "asr_with_lm.nemo")
    model.save_to(path)
    gen = torch.Generator().manual_seed(1)
    audio = [torch.randn(8000, generator=gen) * 0.1, torch.randn(6400, generator=gen) * 0.1]
    torch.save(audio, str(tmp_path / "audio.pt"))
    expected = model.transcribe([a.numpy() for a in audio], batch_size=2, return_hypotheses=True, verbose=False)
    script = tmp_path / "restore.py"
    script.write_text(RESTORE)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", NO_PROXY="*", HTTP_PROXY="http://0.0.0.0:9",
               HTTPS_PROXY="http://0.0.0.0:9", PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(script), path, str(tmp_path / "audio.pt")], capture_output=True,
                         text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["strategy"] == "beam_batch" and got["lm_used"] is True
    assert got["texts"] == [h.text for h in expected]
    assert got["scores"] == pytest.approx([h.score for h in expected], rel=1e-6, abs=1e-5)  # thread counts differ
    # the LM really takes part: without it the scores differ
    model.change_decoding_strategy(OmegaConf.merge(model.cfg.decoding, {"beam": {"ngram_lm_alpha": 0.0}}))
    plain = model.transcribe([a.numpy() for a in audio], batch_size=2, return_hypotheses=True, verbose=False)
    assert [h.score for h in plain] != got["scores"]
