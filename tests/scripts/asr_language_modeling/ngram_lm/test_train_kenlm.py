"""train_kenlm.py: an ARPA (and LM .nemo) from a manifest's transcripts in the ASR model's subword tokens,
spelled chr(id + 100) as NeMo's token-level LMs are."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModelBPE
from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel, read_arpa
from nemo.core.classes.exceptions import ConfigError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 4))
SCRIPT = os.path.join(REPO, "scripts", "asr_language_modeling", "ngram_lm", "train_kenlm.py")
TEXT = ["the cat sees the red ball", "a dog likes the old box", "we see the red car", "the cat likes the box"]


def test_train_kenlm_from_manifest_in_subword_tokens(tmp_path):
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    (tmp_path / "text.txt").write_text("\n".join(TEXT) + "\n")
    create_spt_model(str(tmp_path / "text.txt"), 40, -1, True, tokenizer_type="bpe", output_dir=str(tmp_path / "spe"))
    block = dict(filters=16, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    model = EncDecCTCModelBPE(cfg=OmegaConf.create({
        "sample_rate": 16000, "tokenizer": {"dir": str(tmp_path / "spe"), "type": "bpe"},
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor", "features": 16},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 16, "activation": "relu",
                    "jasper": [block]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None, "num_classes": -1,
                    "vocabulary": []}}))
    model.save_to(str(tmp_path / "asr.nemo"))
    with open(tmp_path / "manifest.json", "w") as f:
        for i, text in enumerate(TEXT):
            f.write(json.dumps({"audio_filepath": f"{i}.wav", "duration": 1.0, "text": text}) + "\n")
    arpa = str(tmp_path / "lm.arpa")
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, SCRIPT, f"nemo_model_file={tmp_path / 'asr.nemo'}",
                          f"train_paths=[{tmp_path / 'manifest.json'}]", f"kenlm_model_file={arpa}", "ngram_length=3",
                          "save_nemo=true"], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    table = read_arpa(arpa)
    assert table.max_order == 3
    ids = [model.tokenizer.text_to_ids(t) for t in TEXT]
    seen = {i for seq in ids for i in seq}
    assert {g[0] for g in table.ngrams[1] if g[0] >= 0} == seen
    raw = open(arpa, encoding="utf-8").read()
    first = ids[0]
    assert f"<s> {chr(first[0] + 100)} {chr(first[1] + 100)}" in raw  # token id i is spelled chr(i + 100)
    lm = NGramGPULanguageModel.restore_from(arpa + ".nemo")
    assert lm.vocab_size == model.decoding.blank_id == model.tokenizer.vocab_size
    with torch.no_grad():
        known = lm.score_sentences(torch.tensor([ids[0]]), bos=True, eos=True).sum()
        shuffled = lm.score_sentences(torch.tensor([ids[0][::-1]]), bos=True, eos=True).sum()
    assert known > shuffled
    spec = importlib.util.spec_from_file_location("train_kenlm", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    cfg = OmegaConf.structured(script.TrainKenlmConfig(
        train_paths=[str(tmp_path / "missing.json")], nemo_model_file=str(tmp_path / "asr.nemo"),
        kenlm_model_file=arpa, ngram_length=3))
    with pytest.raises(ConfigError, match="missing.json"):
        script.train(cfg)
