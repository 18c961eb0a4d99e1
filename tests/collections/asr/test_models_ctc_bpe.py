"""EncDecCTCModelBPE: tokenizer from a directory, its files packed as artifacts, restore, BPE data and decoding."""

import tarfile

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModelBPE
from tests.collections.asr.test_models_ctc import _write_corpus

TEXT = ["a b", "b c", "c a", "hello world", "the quick brown fox", "one two three"] * 20


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    root = tmp_path_factory.mktemp("tok")
    (root / "text.txt").write_text("\n".join(TEXT) + "\n")
    create_spt_model(str(root / "text.txt"), 30, -1, True, tokenizer_type="bpe", output_dir=str(root / "spe"))
    return str(root / "spe")


def _cfg(tokenizer_dir, manifest=None):
    block = dict(filters=32, repeat=1, kernel=[5], stride=[2], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    ds = {"manifest_filepath": manifest, "batch_size": 3, "shuffle": False} if manifest else None
    return OmegaConf.create({
        "sample_rate": 16000,
        "tokenizer": {"dir": tokenizer_dir, "type": "bpe"},
        "validation_ds": ds,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor", "features": 32},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 32, "activation": "relu",
                    "jasper": [block]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None, "num_classes": -1,
                    "vocabulary": []},
    })


def test_bpe_model_vocabulary_blank_and_decoding(tokenizer_dir):
    model = EncDecCTCModelBPE(cfg=_cfg(tokenizer_dir))
    pieces = model.tokenizer.tokenizer.get_piece_size()
    assert model.tokenizer.tokenizer.vocab_size == pieces
    assert model.decoder.num_classes_with_blank == pieces + 1
    assert model.decoding.blank_id == model.loss.blank == pieces
    assert list(model.cfg.decoder.vocabulary) == list(model.tokenizer.tokenizer.get_vocab())
    ids = model.tokenizer.text_to_ids("hello world")
    frames = []
    for i in ids:
        frames += [i, pieces]  # each token followed by a blank so repeats survive
    log_probs = torch.full((1, len(frames), pieces + 1), -10.0)
    for t, i in enumerate(frames):
        log_probs[0, t, i] = 0.0
    assert model.decoding.ctc_decoder_predictions_tensor(log_probs)[0].text == "hello world"
    assert model.decoding.decode_ids_to_str(ids) == "hello world"
    with pytest.raises(ValueError):
        EncDecCTCModelBPE(cfg=OmegaConf.create({k: v for k, v in _cfg(tokenizer_dir).items() if k != "tokenizer"}))


def test_bpe_save_restore_packs_tokenizer_artifacts(tokenizer_dir, tmp_path):
    model = EncDecCTCModelBPE(cfg=_cfg(tokenizer_dir)).eval()
    path = tmp_path / "bpe.nemo"
    model.save_to(str(path))
    with tarfile.open(path) as tar:
        names = tar.getnames()
        config = yaml.safe_load(tar.extractfile("./model_config.yaml"))
    for suffix in ("_tokenizer.model", "_vocab.txt", "_tokenizer.vocab"):
        assert any(n.endswith(suffix) for n in names), suffix
    tok = config["tokenizer"]
    assert tok["dir"] == tokenizer_dir and tok["type"] == "bpe"
    for key in ("model_path", "vocab_path", "spe_tokenizer_vocab"):
        assert tok[key].startswith("nemo:"), key

    restored = EncDecCTCModelBPE.restore_from(str(path)).eval()
    assert restored.tokenizer.text_to_ids("the quick brown fox") == model.tokenizer.text_to_ids("the quick brown fox")
    x = torch.randn(2, 8000)
    n = torch.tensor([8000, 5000])
    with torch.no_grad():
        torch.testing.assert_close(model(input_signal=x, input_signal_length=n)[0],
                                   restored(input_signal=x, input_signal_length=n)[0])
    out = tmp_path / "saved_tok"
    restored.save_tokenizers(str(out))
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer.model", "tokenizer.vocab", "vocab.txt"]


def test_bpe_validation_pass_uses_subword_targets(tokenizer_dir, tmp_path):
    manifest = _write_corpus(tmp_path)
    model = EncDecCTCModelBPE(cfg=_cfg(tokenizer_dir, manifest)).eval()
    batch = next(iter(model.val_dataloader()))
    signal, signal_len, tokens, token_len = batch
    assert tokens[0, : token_len[0]].tolist() == model.tokenizer.text_to_ids("a b")
    with torch.no_grad():
        metrics = model.validation_pass(batch, 0)
    assert set(metrics) == {"val_loss", "val_wer_num", "val_wer_denom", "val_wer"}
    assert metrics["val_wer_denom"].item() == 6.0  # three two-word references
