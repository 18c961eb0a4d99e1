"""TextClassificationModel on a random-init 2-layer BERT: seed API, training/eval logging,
classifytext, artifacts, save/restore in a fresh offline process, ONNX export parity."""

import os
import subprocess
import sys
import tarfile

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.nlp.models import TextClassificationModel

from .conftest import text_classification_cfg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny model, trained for a few steps with validation and test (shared by the tests below)."""
    tmp = tmp_path_factory.mktemp("tc")
    labels = tmp / "labels.txt"
    labels.write_text("negative\npositive\n")
    cfg = text_classification_cfg(tmp, **{"class_labels.class_labels_file": str(labels)})
    pl.seed_everything(0)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    model = TextClassificationModel(cfg, trainer=trainer)
    trainer.fit(model)
    fit_metrics = dict(trainer.callback_metrics)
    test_metrics = trainer.test(model, verbose=False)[0]
    return model, fit_metrics, test_metrics, tmp


def test_seed_structure_and_keys(trained):
    model, *_ = trained
    keys = list(model.state_dict())
    assert "bert_model.embeddings.word_embeddings.weight" in keys
    assert "bert_model.encoder.layer.1.attention.self.query.weight" in keys
    assert [k for k in keys if k.startswith("classifier.")] == [
        "classifier.mlp.layer0.weight", "classifier.mlp.layer0.bias", "classifier.mlp.layer2.weight", "classifier.mlp.layer2.bias"]
    assert not any(k.startswith(("loss.", "classification_report.")) for k in keys)
    assert model.classifier.mlp.layer2.weight.shape == (2, 32)
    assert model.hidden_size == 32


def test_training_and_eval_logging(trained):
    _, fit_metrics, test_metrics, _ = trained
    for key in ("train_loss", "lr", "val_loss", "val_precision", "val_recall", "val_f1"):
        assert key in fit_metrics, key
    assert set(test_metrics) >= {"test_loss", "test_precision", "test_recall", "test_f1"}
    assert 0 <= test_metrics["test_f1"] <= 100


def test_forward_and_classifytext(trained):
    model, *_ = trained
    ids = torch.randint(5, 40, (3, 6))
    logits = model(input_ids=ids, token_type_ids=torch.zeros_like(ids), attention_mask=torch.ones_like(ids))
    assert logits.shape == (3, 2) and logits.dtype == torch.float32
    model.train()
    preds = model.classifytext(["the cat sat", "good happy sun", "a dog"], batch_size=2, max_seq_length=8)
    assert len(preds) == 3 and all(p in (0, 1) for p in preds)
    assert model.training  # mode restored


def test_artifacts_and_config(trained):
    model, *_ = trained
    assert set(model.artifacts) >= {"tokenizer.vocab_file", "tokenizer.tokenizer_config_file",
                                    "language_model.config_file", "class_labels.class_labels_file"}
    assert model.classification_report.label_ids == {"negative": 0, "positive": 1}


def test_weighted_loss_from_train_data(tmp_path):
    cfg = text_classification_cfg(tmp_path, **{"dataset.class_balancing": "weighted_loss"})
    model = TextClassificationModel(cfg)
    assert model.loss.weight is not None and model.loss.weight.shape == (2,)
    assert "loss.weight" not in model.state_dict()


def test_num_classes_checked_against_labels(tmp_path):
    cfg = text_classification_cfg(tmp_path, num_classes=3)
    cfg.dataset.num_classes = 2
    with pytest.raises(ValueError, match=r"train\.tsv:\d+: label 2 is outside \[0, 1\]"):
        TextClassificationModel(cfg)


RESTORE = r"""
import socket, sys, torch
def no_network(*a, **k):
    raise RuntimeError("network access attempted")
socket.socket.connect = no_network
socket.create_connection = no_network
from nemo.collections.nlp.models import TextClassificationModel
m = TextClassificationModel.restore_from(sys.argv[1])
ref = torch.load(sys.argv[2])
m.eval()
with torch.no_grad():
    out = m(input_ids=ref["ids"], token_type_ids=torch.zeros_like(ref["ids"]), attention_mask=torch.ones_like(ref["ids"]))
assert torch.allclose(out, ref["logits"], atol=1e-5), (out - ref["logits"]).abs().max()
assert m.classifytext(["the cat sat"]) == ref["pred"]
assert m.classification_report.label_ids == {"negative": 0, "positive": 1}
print("RESTORED", m.cfg.tokenizer.vocab_file)
"""


def test_save_restore_fresh_process_offline(trained, tmp_path):
    model, *_ = trained
    path = tmp_path / "tc.nemo"
    model.save_to(str(path))
    names = tarfile.open(path).getnames()
    assert any(n.endswith("_vocab.txt") for n in names) and any(n.endswith("_encoder_config.json") for n in names)
    assert any(n.endswith("_tokenizer_config.json") for n in names) and any(n.endswith("_labels.txt") for n in names)
    cfg = TextClassificationModel.restore_from(str(path), return_config=True)
    assert cfg.tokenizer.vocab_file.startswith("nemo:") and cfg.language_model.config_file.startswith("nemo:")
    model.eval()
    ids = torch.randint(5, 40, (2, 7))
    with torch.no_grad():
        logits = model(input_ids=ids, token_type_ids=torch.zeros_like(ids), attention_mask=torch.ones_like(ids))
    torch.save({"ids": ids, "logits": logits, "pred": model.classifytext(["the cat sat"])}, tmp_path / "ref.pt")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp_path / "empty_hf_home"),
               PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", RESTORE, str(path), str(tmp_path / "ref.pt")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESTORED" in proc.stdout
    assert not os.path.exists(tmp_path / "empty_hf_home")  # nothing cached or downloaded


def test_onnx_export_matches_pytorch(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    model, *_ = trained
    path = str(tmp_path / "tc.onnx")
    model.export(path, check_trace=True, check_tolerance=1e-4)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "token_type_ids", "attention_mask"]
    ids = torch.randint(5, 40, (3, 11))  # other batch and length than the export example
    mask = torch.ones_like(ids)
    mask[0, 7:] = 0
    types = torch.zeros_like(ids)
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids, token_type_ids=types, attention_mask=mask).numpy()
    got = session.run(None, {"input_ids": ids.numpy(), "token_type_ids": types.numpy(), "attention_mask": mask.numpy()})[0]
    assert abs(got - expected).max() <= 1e-4
