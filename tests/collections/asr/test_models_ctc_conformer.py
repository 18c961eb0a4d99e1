"""EncDecCTCModel / EncDecCTCModelBPE with a ConformerEncoder: save/restore/re-save, model-level surgery kept in the
config, transcribe, and a short training run whose loss falls."""

import json
import tarfile
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE
from tests.collections.asr import make_conformer_goldens as recipe

WAV_DIR = Path(recipe.WAV_DIR)


def _manifest(tmp_path):
    path = tmp_path / "manifest.json"
    import soundfile as sf

    with open(path, "w", encoding="utf-8") as f:
        for wav, text in zip(recipe.WAVS, recipe.TEXTS):
            duration = sf.info(str(WAV_DIR / wav)).duration
            f.write(json.dumps({"audio_filepath": str(WAV_DIR / wav), "duration": duration, "text": text}) + "\n")
    return str(path)


def _cfg(name="dw_striding_8", manifest=None):
    cfg = recipe.model_config(name)
    if manifest:
        ds = {"manifest_filepath": manifest, "batch_size": 3, "shuffle": False, "num_workers": 0}
        cfg.train_ds = dict(ds, shuffle=True)
        cfg.validation_ds = ds
    return cfg


def _log_probs(model, batch):
    model.eval()
    with torch.no_grad():
        return model(input_signal=batch[0], input_signal_length=batch[1])[0]


@pytest.fixture(scope="module")
def batch():
    audio, lens = recipe.audio_batch()
    return torch.from_numpy(audio), torch.from_numpy(lens)


def test_save_restore_resave_gives_same_outputs_and_bytes(tmp_path, batch):
    torch.manual_seed(0)
    model = EncDecCTCModel(cfg=_cfg())
    ref = _log_probs(model, batch)
    first, second = tmp_path / "a.nemo", tmp_path / "b.nemo"
    model.save_to(str(first))
    restored = EncDecCTCModel.restore_from(str(first))
    torch.testing.assert_close(_log_probs(restored, batch), ref)
    restored.save_to(str(second))
    again = EncDecCTCModel.restore_from(str(second))
    torch.testing.assert_close(_log_probs(again, batch), ref)
    with tarfile.open(first) as a, tarfile.open(second) as b:
        for member in ("./model_weights.ckpt", "./model_config.yaml"):
            assert a.extractfile(member).read() == b.extractfile(member).read(), member
    cfg = OmegaConf.load(tarfile.open(first).extractfile("./model_config.yaml"))
    assert cfg.encoder._target_ == "nemo.collections.asr.modules.ConformerEncoder"
    assert cfg.decoder.feat_in == 32


def test_model_level_attention_change_is_kept_in_config_and_archive(tmp_path, batch):
    torch.manual_seed(0)
    model = EncDecCTCModel(cfg=_cfg("striding_4"))
    model.change_attention_model("rel_pos_local_attn", [4, 4])
    model.change_subsampling_conv_chunking_factor(2)
    assert model.cfg.encoder.self_attention_model == "rel_pos_local_attn"
    assert list(model.cfg.encoder.att_context_size) == [4, 4]
    assert model.cfg.encoder.subsampling_conv_chunking_factor == 2
    ref = _log_probs(model, batch)
    model.save_to(str(tmp_path / "local.nemo"))
    restored = EncDecCTCModel.restore_from(str(tmp_path / "local.nemo"))
    assert type(restored.encoder.layers[0].self_attn).__name__ == "RelPositionMultiHeadAttentionLongformer"
    torch.testing.assert_close(_log_probs(restored, batch), ref)
    model.change_attention_model()  # nothing asked: nothing changes
    assert model.cfg.encoder.self_attention_model == "rel_pos_local_attn"


def test_bpe_conformer_transcribes_files():
    torch.manual_seed(0)
    model = EncDecCTCModelBPE(cfg=_cfg("dw_striding_4_bpe"))
    hyps = model.transcribe([str(WAV_DIR / w) for w in recipe.WAVS], batch_size=2, verbose=False)
    assert len(hyps) == 3 and all(isinstance(h.text, str) for h in hyps)
    probs = model.transcribe([str(WAV_DIR / recipe.WAVS[0])], batch_size=1, return_hypotheses=True, verbose=False)
    assert probs[0].y_sequence.shape[-1] == model.decoder.num_classes_with_blank


@pytest.mark.slow
def test_short_conformer_ctc_training_run_loss_falls(tmp_path, batch):
    pl.seed_everything(0)
    manifest = _manifest(tmp_path)
    cfg = _cfg("dw_striding_8", manifest)
    cfg.optim = {"name": "adam", "lr": 0.003}
    trainer = pl.Trainer(max_steps=30, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
                         check_val_every_n_epoch=100, num_sanity_val_steps=0)
    model = EncDecCTCModel(cfg=cfg, trainer=trainer)
    tokens = next(iter(model.train_dataloader()))
    model.eval()
    with torch.no_grad():
        first = model.validation_pass(tokens, 0)["val_loss"].item()
    model.train()
    trainer.fit(model)
    model.eval()
    with torch.no_grad():
        last = model.validation_pass(tokens, 0)["val_loss"].item()
    print(f"conformer ctc loss {first:.3f} -> {last:.3f}")
    assert last < 0.6 * first


def test_conformer_ctc_model_exports_to_onnx_with_same_log_probs(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = EncDecCTCModel(cfg=_cfg("striding_4")).eval()
    feats = torch.randn(2, recipe.FEATURES, 120)
    lens = torch.tensor([120, 77])
    path = tmp_path / "model.onnx"
    model.export(str(path), input_example=(feats, lens))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, {names[0]: feats.numpy(), names[1]: lens.numpy()})[0]
    with torch.no_grad():
        want = model.forward_for_export(feats, lens)
    assert got.shape == tuple(want.shape) and abs(got - want.numpy()).max() < 1e-4
