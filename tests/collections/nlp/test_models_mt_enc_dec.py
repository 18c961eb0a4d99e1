"""MTEncDecModel on a 2-layer Transformer: tying, loss, training with BLEU logging, translate(),
save/restore in a fresh offline process, encoder ONNX export parity."""

import math
import os
import subprocess
import sys
import tarfile

import lightning.pytorch as pl
import pytest
import torch

from nemo.collections.nlp.models import MTEncDecModel

from .conftest import EN, mt_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mt")
    cfg = mt_cfg(tmp, label_smoothing=0.1)
    pl.seed_everything(0)
    trainer = pl.Trainer(max_epochs=6, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
                         check_val_every_n_epoch=3)
    model = MTEncDecModel(cfg, trainer=trainer)
    trainer.fit(model)
    return model, dict(trainer.callback_metrics), tmp


def test_keys_and_tied_output_projection(trained):
    model, _, _ = trained
    sd = model.state_dict()
    assert "encoder._embedding.position_embedding.pos_enc" in sd
    assert "decoder._decoder.layers.1.third_sub_layer.dense_in.weight" in sd
    assert "log_softmax.mlp.layer0.weight" in sd and "log_softmax.mlp.layer0.bias" in sd
    assert model.log_softmax.mlp.layer0.weight is model.decoder.embedding.token_embedding.weight
    assert model.encoder.embedding.token_embedding.weight is not model.decoder.embedding.token_embedding.weight


def test_shared_embeddings(tmp_path):
    model = MTEncDecModel(mt_cfg(tmp_path, shared_embeddings=True, train_ds=None, validation_ds=None, test_ds=None))
    assert model.encoder.embedding.token_embedding.weight is model.decoder.embedding.token_embedding.weight


def test_training_logs_and_learns(trained):
    model, metrics, _ = trained
    assert {"train_loss", "lr", "val_loss", "val_sacreBLEU"} <= set(metrics)
    assert metrics["train_loss"] < math.log(model.decoder_vocab_size) - 0.3  # uniform start: log(60) = 4.09


def test_translate_and_beam_scores(trained):
    model, _, _ = trained
    out = model.translate(EN[:3], source_lang="en", target_lang="de")
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    all_text, scores, best = model.translate(EN[:2], return_beam_scores=True)
    assert len(all_text) == 2 and len(all_text[0]) == 2 and scores.shape == (2, 2) and len(best) == 2
    assert model.translate([]) == []


def test_input_ids_validated(trained):
    model, _, _ = trained
    bad = torch.tensor([[1, 999, 2]])
    with pytest.raises(ValueError, match="source ids must be in"):
        model(bad, torch.ones_like(bad), torch.tensor([[1, 4]]), torch.ones(1, 2, dtype=torch.long))


def test_tokenizer_required_and_checked(tmp_path):
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    cfg = mt_cfg(tmp_path, train_ds=None, validation_ds=None, test_ds=None)
    cfg.encoder_tokenizer.tokenizer_model = None
    with pytest.raises(ValueError, match="encoder_tokenizer.tokenizer_model is required"):
        MTEncDecModel(cfg)
    text = tmp_path / "t.txt"
    text.write_text("\n".join(EN) + "\n")
    no_pad, _ = create_spt_model(str(text), 40, -1, False, "bpe", output_dir=str(tmp_path / "nopad"))
    cfg = mt_cfg(tmp_path, train_ds=None, validation_ds=None, test_ds=None)
    cfg.decoder_tokenizer.tokenizer_model = no_pad
    with pytest.raises(ValueError, match="no pad, bos, eos piece"):
        MTEncDecModel(cfg)


RESTORE = r"""
import socket, sys, torch
def no_network(*a, **k):
    raise RuntimeError("network access attempted")
socket.socket.connect = no_network
from nemo.collections.nlp.models import MTEncDecModel
m = MTEncDecModel.restore_from(sys.argv[1])
ref = torch.load(sys.argv[2])
assert m.log_softmax.mlp.layer0.weight is m.decoder.embedding.token_embedding.weight
assert m.translate(ref["src"]) == ref["out"], (m.translate(ref["src"]), ref["out"])
print("RESTORED")
"""


def test_save_restore_fresh_process_offline(trained, tmp_path):
    model, _, _ = trained
    path = tmp_path / "mt.nemo"
    model.save_to(str(path))
    names = tarfile.open(path).getnames()
    assert sum(n.endswith("_tokenizer.model") for n in names) >= 1
    cfg = MTEncDecModel.restore_from(str(path), return_config=True)
    assert cfg.encoder_tokenizer.tokenizer_model.startswith("nemo:")
    torch.save({"src": EN[:4], "out": model.translate(EN[:4])}, tmp_path / "ref.pt")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", RESTORE, str(path), str(tmp_path / "ref.pt")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESTORED" in proc.stdout


def test_encoder_onnx_export_matches_pytorch(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    model, _, _ = trained
    paths, _ = model.export(str(tmp_path / "mt.onnx"), check_trace=True, check_tolerance=1e-4)
    assert os.path.basename(paths[0]) == "encoder-mt.onnx"
    session = ort.InferenceSession(paths[0], providers=["CPUExecutionProvider"])
    ids = torch.randint(4, model.encoder_vocab_size, (3, 9))
    mask = torch.ones_like(ids)
    mask[2, 5:] = 0
    model.eval()
    with torch.no_grad():
        expected = model.encoder(input_ids=ids, encoder_mask=mask).numpy()
    got = session.run(None, {"input_ids": ids.numpy(), "encoder_mask": mask.numpy()})[0]
    assert abs(got - expected).max() <= 1e-4
