"""ASRWithTTSModel: a frozen FastPitch voicing text-only data for a BPE CTC model, nested in one .nemo."""

import json
import tarfile

import lightning.pytorch as pl
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from nemo.collections.asr.models.hybrid_asr_tts_models import ASRWithTTSModel, TextOrAudioToTextBatch
from nemo.core.classes.exceptions import NeMoBaseException
from tests.collections.conftest import torch_threads
from tests.collections.tts.conftest import model_cfg, tiny_fastpitch_cfg

SENTENCES = ["the cat sees the red ball", "a dog likes the big box", "please open the green door",
             "we find the old book", "my friend has the blue cup", "they want the small hat"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def parts(tts_corpus, tmp_path_factory):
    """(ASR BPE config, 16 kHz FastPitch config with a phoneme dictionary artifact, text manifest)."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    root = tmp_path_factory.mktemp("hybrid")
    (root / "text.txt").write_text("\n".join(SENTENCES * 5) + "\n")
    create_spt_model(str(root / "text.txt"), 40, -1, True, tokenizer_type="bpe", output_dir=str(root / "spe"))
    block = dict(filters=32, repeat=1, kernel=[5], stride=[2], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    preprocessor = {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                    "sample_rate": 16000, "features": 64, "n_fft": 512, "window_size": 0.02,
                    "window_stride": 0.01, "dither": 0.0, "normalize": "per_feature"}
    asr = OmegaConf.create({
        "sample_rate": 16000, "tokenizer": {"dir": str(root / "spe"), "type": "bpe"}, "preprocessor": preprocessor,
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 64, "activation": "relu",
                    "jasper": [block]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None, "num_classes": -1,
                    "vocabulary": []},
    })
    (root / "dict.txt").write_text("THE  DH AH0\nCAT  K AE1 T\nDOG  D AO1 G\n", encoding="latin-1")
    tts = model_cfg(tiny_fastpitch_cfg(tts_corpus, root / "sup", n_mels=64, sample_rate=16000, hop=160, n_fft=512))
    tts.train_ds = tts.validation_ds = None
    tts.preprocessor.update(n_window_size=320, preemph=0.97, mag_power=2.0, log_zero_guard_value=2 ** -24)
    tts.text_tokenizer = {"_target_": "nemo.collections.tts.parts.tokenizers.EnglishPhonemesTokenizer",
                          "chars": True, "g2p": {"_target_": "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p",
                                                 "phoneme_dict": str(root / "dict.txt")}}
    text_manifest = root / "text_only.json"
    text_manifest.write_text("".join(json.dumps({"text": s}) + "\n" for s in SENTENCES))
    return asr, tts, str(text_manifest), root


def hybrid_cfg(asr, tts, text_manifest, audio_manifest):
    return OmegaConf.create({
        "asr_model": asr, "asr_model_type": "ctc_bpe", "asr_model_path": None, "asr_model_fuse_bn": False,
        "tts_model": tts, "tts_model_path": None, "enhancer_model": None, "enhancer_model_path": None,
        "train_ds": {"manifest_filepath": audio_manifest, "batch_size": 4, "shuffle": True,
                     "text_data": {"manifest_filepath": text_manifest, "speakers_filepath": None, "min_words": 1,
                                   "max_words": 45, "asr_tts_sampling_technique": "round-robin"}},
        "optim": {"name": "adam", "lr": 1e-3},
    })


def test_all_required_keys_must_be_present(parts):
    asr, tts, text_manifest, _ = parts
    cfg = hybrid_cfg(asr, tts, text_manifest, None)
    del cfg["enhancer_model_path"]
    with pytest.raises(NeMoBaseException, match="enhancer_model_path"):
        ASRWithTTSModel(cfg)


def test_train_on_synthesised_and_real_audio_then_save_restore(parts, tts_corpus, tmp_path):
    asr, tts, text_manifest, root = parts
    torch.manual_seed(0)
    model = ASRWithTTSModel(hybrid_cfg(asr, tts, text_manifest, tts_corpus["train"]))
    assert [(a, c) for a, c, _ in model.named_nemo_modules()] == [("", ""), ("tts_model", "tts_model"),
                                                                  ("asr_model", "asr_model")]
    assert not any(p.requires_grad for p in model.tts_model.parameters())
    assert model.check_feature_compatibility() == []

    batch = next(iter(model._train_dl))
    assert isinstance(batch, TextOrAudioToTextBatch) and batch.audio is not None and batch.text is not None
    spec, spec_len, target, target_len = model._features_and_targets(batch)
    assert spec.shape[:2] == (4, 64) and len(spec_len) == len(target) == 4

    tts_before = {k: v.clone() for k, v in model.tts_model.state_dict().items()}
    asr_before = {k: v.clone() for k, v in model.asr_model.state_dict().items()}
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    trainer.fit(model)
    assert not model.tts_model.training  # frozen TTS stays in inference mode while the ASR model trains
    assert all(torch.equal(v, model.tts_model.state_dict()[k]) for k, v in tts_before.items())
    assert any(not torch.equal(v, model.asr_model.state_dict()[k]) for k, v in asr_before.items()
               if v.dtype.is_floating_point)
    model.setup_multiple_validation_data({"manifest_filepath": tts_corpus["dev"], "batch_size": 2})
    validator = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = validator.validate(model, verbose=False)[0]
    assert {"val_loss", "val_wer"} <= set(metrics)

    path = str(tmp_path / "hybrid.nemo")
    model.save_to(path)
    with tarfile.open(path) as tar:
        names = tar.getnames()
        cfg = yaml.safe_load(tar.extractfile("./model_config.yaml"))
    assert cfg["tts_model"]["text_tokenizer"]["g2p"]["phoneme_dict"].startswith("nemo:")
    assert cfg["asr_model"]["tokenizer"]["model_path"].startswith("nemo:")
    assert any(n.endswith("_dict.txt") for n in names) and any(n.endswith("tokenizer.model") for n in names)

    (root / "dict.txt").rename(root / "moved.txt")  # the restored model must use the packed copies
    try:
        restored = ASRWithTTSModel.restore_from(path)
    finally:
        (root / "moved.txt").rename(root / "dict.txt")
    a, b = model.state_dict(), restored.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert restored.tts_model.parse("the cat").tolist() == model.tts_model.parse("the cat").tolist()
    assert restored.asr_model.tokenizer.text_to_ids("the cat") == model.asr_model.tokenizer.text_to_ids("the cat")

    restored.save_asr_model_to(str(tmp_path / "asr_only.nemo"))
    restored.tts_model.save_to(str(tmp_path / "tts_only.nemo"))
    # the seed's second way: children from .nemo paths; their configs land in the parent's config on save
    again = ASRWithTTSModel.from_pretrained_models(str(tmp_path / "asr_only.nemo"), str(tmp_path / "tts_only.nemo"))
    assert again.cfg.asr_model_type == "ctc_bpe"
    assert torch.equal(again.asr_model.decoder.decoder_layers[0].weight, model.asr_model.decoder.decoder_layers[0].weight)
    from nemo.collections.tts.data.dataset import read_tts_manifest

    hyp = again.transcribe([read_tts_manifest(tts_corpus["dev"])[0]["audio_filepath"]], verbose=False)
    assert isinstance(hyp[0], str) or hasattr(hyp[0], "text")
