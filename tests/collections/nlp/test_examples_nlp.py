"""The NLP example scripts run with the seed's CLI grammar (`+trainer.fast_dev_run=true`, `~model.test_ds`),
their YAML parses, and the data scripts build well-formed files."""

import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from .conftest import BERT_TINY, DE, EN, make_spm, write_tsv, write_vocab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TC = os.path.join(REPO, "examples/nlp/text_classification")
MT = os.path.join(REPO, "examples/nlp/machine_translation")


def _run(args, cwd, timeout=420):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return proc


def test_example_yaml_parses():
    tc = OmegaConf.load(os.path.join(TC, "conf/text_classification_config.yaml"))
    assert set(tc) >= {"trainer", "exp_manager", "model"} and tc.model.classifier_head.num_output_layers == 2
    mt = OmegaConf.load(os.path.join(MT, "conf/aayn_base.yaml"))
    assert mt.model.len_pen == 0.6 and mt.model.label_smoothing == 0.1 and mt.model.encoder.num_token_types == 0


@pytest.mark.slow
def test_text_classification_example_fast_dev_run(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    train = write_tsv(tmp_path / "train.tsv", n=16)
    dev = write_tsv(tmp_path / "dev.tsv", n=8, seed=1)
    config = OmegaConf.to_container(OmegaConf.create(BERT_TINY))
    args = [os.path.join(TC, "text_classification_with_bert.py"), "model.dataset.num_classes=2",
            f"model.train_ds.file_path={train}", f"model.validation_ds.file_path={dev}", "~model.test_ds",
            f"model.tokenizer.vocab_file={vocab}", "model.language_model.pretrained_model_name=bert-base-uncased",
            f"model.language_model.config={config}".replace("'", ""), "trainer.max_epochs=1",
            f"exp_manager.exp_dir={tmp_path / 'exp'}", "+trainer.fast_dev_run=true"]
    _run(args, tmp_path)
    assert not os.path.exists(tmp_path / "text_classification_model.nemo")  # fast_dev_run saves nothing


@pytest.mark.slow
def test_mt_example_trains_tokenizer_and_fast_dev_run(tmp_path):
    for name, lines in (("train.en", EN * 3), ("train.de", DE * 3), ("dev.en", EN[:4]), ("dev.de", DE[:4])):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    args = [os.path.join(MT, "enc_dec_nmt.py"),
            f"model.train_ds.src_file_name={tmp_path / 'train.en'}", f"model.train_ds.tgt_file_name={tmp_path / 'train.de'}",
            f"model.validation_ds.src_file_name={tmp_path / 'dev.en'}", f"model.validation_ds.tgt_file_name={tmp_path / 'dev.de'}",
            "~model.test_ds", f"model.preproc_out_dir={tmp_path / 'spm'}", "model.encoder_tokenizer.vocab_size=70",
            "model.encoder.num_layers=1", "model.decoder.num_layers=1", "model.encoder.hidden_size=32",
            "model.decoder.hidden_size=32", "model.encoder.inner_size=64", "model.decoder.inner_size=64",
            "model.max_generation_delta=3", "trainer.max_epochs=1", f"exp_manager.exp_dir={tmp_path / 'exp'}",
            "+trainer.fast_dev_run=true"]
    _run(args, tmp_path)
    assert (tmp_path / "spm" / "tokenizer.model").is_file()


@pytest.mark.slow
def test_data_scripts(tmp_path):
    if os.path.isfile("/usr/share/wordnet/data.noun"):
        _run([os.path.join(TC, "make_wordnet_dataset.py"), "--out_dir", str(tmp_path / "wn"), "--classes",
              "animal,plant,food", "--per_class_train", "40", "--per_class_eval", "10"], tmp_path)
        lines = (tmp_path / "wn" / "train.tsv").read_text().splitlines()
        assert lines[0] == "sentence\tlabel" and len(lines) == 121
        assert all(l.rsplit("\t", 1)[1] in "012" for l in lines[1:])
        assert (tmp_path / "wn" / "labels.txt").read_text().split() == ["animal", "plant", "food"]
    mo_dir = tmp_path / "mo"
    mo_dir.mkdir()
    _write_mo(mo_dir / "demo.mo", {f"Open file number {i}": f"Datei Nummer {i} öffnen" for i in range(1200)} | {"_Save": "_Speichern", "%s %d": "%s %d"})
    _run([os.path.join(MT, "make_gettext_corpus.py"), "--out_dir", str(tmp_path / "mt"), "--locale_dir", str(mo_dir),
          "--dev_size", "50", "--test_size", "50"], tmp_path)
    en = (tmp_path / "mt" / "train.en").read_text().splitlines()
    de = (tmp_path / "mt" / "train.de").read_text().splitlines()
    assert len(en) == len(de) == 1100 and "%s %d" not in en
    assert dict(zip(en, de))["Open file number 7"] == "Datei Nummer 7 öffnen"


def _write_mo(path, messages):
    """A minimal GNU .mo file (little-endian, no hash table)."""
    import struct

    entries = sorted([("", "Content-Type: text/plain; charset=UTF-8\n")] + list(messages.items()))
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    n = len(entries)
    header = 7 * 4
    orig_tab, trans_tab = header, header + 8 * n
    data = trans_tab + 8 * n
    offsets, blob = [], b""
    for s in ids + strs:
        offsets.append((len(s), data + len(blob)))
        blob += s + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, n, orig_tab, trans_tab, 0, 0)
    out += b"".join(struct.pack("<2I", *o) for o in offsets)
    path.write_bytes(out + blob)
