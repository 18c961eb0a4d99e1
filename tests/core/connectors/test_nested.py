"""Nested NeMo models: the seed's three ways and what a parent save writes (spec core §4)."""

import tarfile

import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import NeMoBaseException
from tests.core.toy_models import Parent, Toy, Vocab, write_vocab


def child_cfg(tmp_path):
    return {"vocab_file": write_vocab(tmp_path / "vocab.txt"), "dim": 4}


def archive_config(path):
    with tarfile.open(path) as tar:
        return OmegaConf.create(tar.extractfile("./model_config.yaml").read().decode()), tar.getnames()


def test_way1_subconfig_round_trip(tmp_path):
    p = Parent(OmegaConf.create({"child_model": child_cfg(tmp_path)}))
    assert list(p.named_nemo_modules())[1][:2] == ("child_model", "child_model")
    p.save_to(str(tmp_path / "p.nemo"))
    cfg, names = archive_config(tmp_path / "p.nemo")
    assert cfg.child_model.vocab_file.startswith("nemo:") and cfg.child_model.target.endswith("Vocab")
    assert any(n.endswith("_vocab.txt") for n in names)
    r = Parent.restore_from(str(tmp_path / "p.nemo"))
    assert r.child_model.vocab == p.child_model.vocab
    assert torch.equal(r.child_model.embed.weight, p.child_model.embed.weight)
    assert "child_model.embed.weight" in r.state_dict()


def test_way2_nemo_path_becomes_subconfig(tmp_path):
    child = Vocab(OmegaConf.create(child_cfg(tmp_path)))
    child.save_to(str(tmp_path / "child.nemo"))
    p = Parent(OmegaConf.create({"child_model_path": str(tmp_path / "child.nemo")}))
    assert "child_model" not in p.cfg
    p.save_to(str(tmp_path / "p.nemo"))
    cfg, _ = archive_config(tmp_path / "p.nemo")
    assert "child_model" in cfg and cfg.child_model_path == str(tmp_path / "child.nemo")
    (tmp_path / "child.nemo").unlink()
    (tmp_path / "vocab.txt").unlink()
    r = Parent.restore_from(str(tmp_path / "p.nemo"))
    assert r.child_model.vocab == child.vocab
    assert torch.equal(r.child_model.embed.weight, child.embed.weight)
    r.save_to(str(tmp_path / "p2.nemo"))
    assert Parent.restore_from(str(tmp_path / "p2.nemo")).child_model.vocab == child.vocab


def test_register_requires_modelpt_and_init():
    p = Parent(OmegaConf.create({}))
    assert p.child_model is None and not p.has_nemo_submodules()
    with pytest.raises(NeMoBaseException):
        p.register_nemo_submodule("x", "x", torch.nn.Linear(1, 1))


def test_deeply_nested_paths(tmp_path):
    class Outer(Toy):
        def __init__(self, cfg, trainer=None):
            super().__init__(cfg, trainer)
            self.register_nemo_submodule("inner", "inner_cfg", Parent(self.cfg.inner_cfg))

    o = Outer(OmegaConf.create({"dim": 2, "inner_cfg": {"child_model": child_cfg(tmp_path)}}))
    paths = [(a, c) for a, c, _ in o.named_nemo_modules()]
    assert paths == [("", ""), ("inner", "inner_cfg"), ("inner.child_model", "inner_cfg.child_model")]
    o.save_to(str(tmp_path / "o.nemo"))
    cfg, _ = archive_config(tmp_path / "o.nemo")
    assert cfg.inner_cfg.child_model.vocab_file.startswith("nemo:")
    r = Outer.restore_from(str(tmp_path / "o.nemo"))
    assert r.inner.child_model.vocab == o.inner.child_model.vocab
