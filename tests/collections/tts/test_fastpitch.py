"""FastPitchModel: shapes, learned alignment training, cached pitch, .nemo round trip, ONNX parity."""

import os

import numpy as np
import pytest
import torch

from nemo.collections.tts.models import FastPitchModel, SpectrogramGenerator
from tests.collections.tts.conftest import model_cfg, tiny_fastpitch_cfg


@pytest.fixture(scope="module")
def fastpitch(tts_corpus, tmp_path_factory):
    torch.manual_seed(0)
    cfg = tiny_fastpitch_cfg(tts_corpus, tmp_path_factory.mktemp("sup"))
    return FastPitchModel(model_cfg(cfg))


def test_inference_api_shapes(fastpitch):
    assert isinstance(fastpitch, SpectrogramGenerator)
    tokens = fastpitch.parse("The cat sees the ball.")
    assert tokens.shape[0] == 1 and tokens.dtype == torch.long
    spec = fastpitch.generate_spectrogram(tokens=tokens)
    assert spec.shape[:2] == (1, 80) and spec.shape[2] >= 1
    batch = torch.cat([tokens, tokens])
    assert fastpitch.generate_spectrogram(tokens=batch).shape[0] == 2


def test_training_forward_shapes_and_learned_durations(fastpitch):
    batch = next(iter(fastpitch._train_dl))
    fastpitch.train()
    losses, (mels, mels_pred, attn_soft, attn_hard) = fastpitch._losses(batch)
    B, T_text = batch["text"].shape
    assert mels_pred.shape == mels.shape and mels.shape[:2] == (B, 80)
    assert attn_soft.shape == (B, 1, mels.shape[2], T_text)
    # every frame is aligned to exactly one token, and every token gets at least one frame
    _, spec_len = fastpitch.preprocessor(input_signal=batch["audio"], length=batch["audio_lens"])
    durs = attn_hard.sum(2)[:, 0]
    assert torch.equal(durs.sum(1).long(), spec_len)
    for b in range(B):
        assert (durs[b, : batch["text_lens"][b]] >= 1).all()
    assert set(losses) == {"mel_loss", "dur_loss", "pitch_loss", "ctc_loss", "bin_loss", "loss"}


def test_a_few_training_steps_reduce_the_loss(fastpitch):
    torch.manual_seed(0)
    batch = next(iter(fastpitch._train_dl))
    opt = torch.optim.Adam(fastpitch.parameters(), lr=3e-3)
    fastpitch.train()
    history = []
    for _ in range(6):
        losses, _ = fastpitch._losses(batch)
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        history.append(float(losses["loss"]))
    assert history[-1] < history[0] * 0.95, history


def test_state_dict_layout(fastpitch):
    keys = fastpitch.state_dict().keys()
    assert "preprocessor.featurizer.fb" in keys and "preprocessor.featurizer.window" in keys
    assert "fastpitch.encoder.word_emb.weight" in keys and "fastpitch.proj.weight" in keys
    assert "fastpitch.encoder.layers.0.dec_attn.qkv_net.weight" in keys
    aligner = [k for k in keys if k.startswith("aligner.")]
    assert aligner and all(f"fastpitch.{k}" in keys for k in aligner)  # the aligner appears twice, as in NeMo


def test_pitch_is_cached_on_disk_and_reused(fastpitch, monkeypatch):
    ds = fastpitch._train_dl.dataset
    item = ds[0]
    path = ds._cache_path("pitch", ds.data[0]["audio_filepath"])
    assert os.path.exists(path)
    import nemo.collections.tts.parts.utils as utils

    monkeypatch.setattr(utils, "extract_pitch", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert torch.equal(ds[0]["pitch"], item["pitch"])
    voiced = item["pitch"][item["pitch"] != 0]
    assert len(voiced) > 0 and abs(float(voiced.mean())) < 5  # normalised with pitch_mean/pitch_std


def test_save_restore_round_trip(fastpitch, tmp_path):
    path = str(tmp_path / "fp.nemo")
    fastpitch.save_to(path)
    restored = FastPitchModel.restore_from(path)
    a, b = fastpitch.state_dict(), restored.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    tokens = fastpitch.parse("a dog likes the red box")
    assert torch.equal(restored.parse("a dog likes the red box"), tokens)
    torch.testing.assert_close(restored.generate_spectrogram(tokens=tokens), fastpitch.generate_spectrogram(tokens=tokens))


def test_phoneme_dictionary_is_packaged_as_an_artifact(tts_corpus, tmp_path):
    d = tmp_path / "mini_cmudict.txt"
    d.write_text("THE  DH AH0\nCAT  K AE1 T\n", encoding="latin-1")
    cfg = tiny_fastpitch_cfg(tts_corpus, tmp_path / "sup")
    cfg.model.text_tokenizer = {
        "_target_": "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers.EnglishPhonemesTokenizer",
        "chars": True, "stresses": True,
        "g2p": {"_target_": "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p", "phoneme_dict": str(d)}}
    cfg.model.train_ds = cfg.model.validation_ds = None
    model = FastPitchModel(model_cfg(cfg))
    model.save_to(str(tmp_path / "m.nemo"))
    d.unlink()
    restored = FastPitchModel.restore_from(str(tmp_path / "m.nemo"))
    assert [restored.tokenizer.tokens[i] for i in restored.parse("the cat")[0]] == ["DH", "AH0", " ", "K", "AE1", "T"]


def test_onnx_export_matches_pytorch(fastpitch, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    fastpitch.eval()
    path = str(tmp_path / "fastpitch.onnx")
    fastpitch.export(path, check_trace=True, check_tolerance=1e-3)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    tokens = fastpitch.parse("please open the green door")  # another length than the export example
    spect, num_frames, durs, pitch = session.run(None, {session.get_inputs()[0].name: tokens.numpy()})
    with torch.no_grad():
        ref = fastpitch.fastpitch.infer(text=tokens)
    np.testing.assert_allclose(spect, ref[0].numpy(), atol=1e-3, rtol=1e-3)
    assert int(num_frames[0]) == int(ref[1][0])


def test_default_cmudict_is_packed_too(tts_corpus, tmp_path):
    cfg = tiny_fastpitch_cfg(tts_corpus, tmp_path / "sup")
    cfg.model.text_tokenizer = {
        "_target_": "nemo.collections.tts.parts.tokenizers.EnglishPhonemesTokenizer",
        "g2p": {"_target_": "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p", "phoneme_dict": None}}
    cfg.model.train_ds = cfg.model.validation_ds = None
    model = FastPitchModel(model_cfg(cfg))
    assert "text_tokenizer.g2p.phoneme_dict" in model.artifacts
    assert model.cfg.text_tokenizer.g2p.phoneme_dict.endswith("cmudict.dict")


def test_validation_through_lightning(fastpitch, tts_corpus):
    import lightning.pytorch as pl
    from omegaconf import OmegaConf, open_dict

    val_cfg = OmegaConf.create(OmegaConf.to_container(fastpitch.cfg.validation_ds))
    with open_dict(val_cfg):
        val_cfg.dataset.manifest_filepath = [tts_corpus["dev"], tts_corpus["dev"]]  # a list is concatenated
    fastpitch.setup_multiple_validation_data(val_cfg)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.validate(fastpitch, verbose=False)
    assert len(fastpitch._validation_dl.dataset) == 4
    assert {"val_loss", "val_mel_loss", "val_dur_loss", "val_pitch_loss", "val_ctc_loss"} <= set(metrics[0])
