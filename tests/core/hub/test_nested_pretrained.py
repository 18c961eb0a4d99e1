"""The seed's third nested-model way: a child loaded with `ChildModel.from_pretrained(name)`."""

import tarfile

import torch
from omegaconf import OmegaConf

from nemo.core import PretrainedModelInfo
from nemo.core.classes import pretrained
from tests.core.toy_models import Parent, Vocab


def _saved_config(path):
    with tarfile.open(path) as tar:
        return OmegaConf.create(tar.extractfile("./model_config.yaml").read().decode()), tar.getnames()


def _check_parent_round_trip(parent, tmp_path, monkeypatch, stop_server):
    assert isinstance(parent.child_model, Vocab) and parent.child_model.vocab == ["<unk>", "a", "b", "c", "d"]
    assert [n for n, _, _ in parent.named_nemo_modules()] == ["", "child_model"]
    parent.save_to(str(tmp_path / "parent.nemo"))
    cfg, names = _saved_config(tmp_path / "parent.nemo")
    # The save turned the name into a sub-config with the child's artifact packed in the parent.
    assert cfg.child_model.vocab_file.startswith("nemo:") and cfg.child_model.target.endswith("Vocab")
    assert any(n.endswith("_vocab.txt") for n in names)
    stop_server()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # restoring the parent needs no download
    restored = Parent.restore_from(str(tmp_path / "parent.nemo"), map_location="cpu")
    assert restored.child_model.vocab == parent.child_model.vocab
    assert torch.equal(restored.child_model.embed.weight, parent.child_model.embed.weight)
    assert torch.equal(restored.head.weight, parent.head.weight)


def test_child_from_catalogue_name(file_server, vocab_nemo, tmp_path, monkeypatch):
    url = file_server.add("vocab/1/vocab-small.nemo", vocab_nemo)
    pretrained.register_pretrained_model(PretrainedModelInfo("vocab-small", "a vocabulary", url, class_=Vocab))
    parent = Parent(OmegaConf.create({"child_model_name": "vocab-small"}))
    assert len([r for r in file_server.requests if r[0] == "GET"]) == 1
    _check_parent_round_trip(parent, tmp_path, monkeypatch, file_server.stop)


def test_child_from_hub_repo(hub, vocab_nemo, tmp_path, monkeypatch):
    vocab_file = tmp_path / "child.nemo"
    vocab_file.write_bytes(vocab_nemo)
    Vocab.restore_from(str(vocab_file), map_location="cpu").push_to_hf_hub("me/vocab-small")
    parent = Parent(OmegaConf.create({"child_model_name": "me/vocab-small"}))
    _check_parent_round_trip(parent, tmp_path, monkeypatch, hub.stop)
