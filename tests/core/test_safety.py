"""Loading an untrusted `.nemo` never runs code and never writes outside its folder (spec core §2.9)."""

import io
import os
import pickle
import sys
import tarfile
import zipfile

import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import ArchiveError, ModelPT, UnsafeArchiveError, UnsafeTargetError
from nemo.core.classes.common import allowed_targets, register_allowed_target_prefix, safe_instantiate
from tests.core.toy_models import Toy


def add_bytes(tar, name, data, **attrs):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


def good_members(tmp_path):
    m = Toy(OmegaConf.create({"dim": 2}))
    m.save_to(str(tmp_path / "ok.nemo"))
    with tarfile.open(tmp_path / "ok.nemo") as tar:
        return {n: tar.extractfile(n).read() for n in tar.getnames() if n != "."}


@pytest.mark.parametrize(
    "evil",
    [
        lambda t: add_bytes(t, "/etc/evil.txt", b"x"),
        lambda t: add_bytes(t, "./../evil.txt", b"x"),
        lambda t: add_bytes(t, "./sub/../../evil.txt", b"x"),
        lambda t: add_bytes(t, "./link", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
        lambda t: add_bytes(t, "./hard", b"", type=tarfile.LNKTYPE, linkname="./model_config.yaml"),
        lambda t: add_bytes(t, "./dev", b"", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
        lambda t: add_bytes(t, "./fifo", b"", type=tarfile.FIFOTYPE),
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink", "hardlink", "device", "fifo"],
)
def test_unsafe_members_refused(tmp_path, evil):
    members = good_members(tmp_path)
    path = tmp_path / "evil.nemo"
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            add_bytes(tar, name, data)
        evil(tar)
    before = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent))
    with pytest.raises(UnsafeArchiveError):
        Toy.restore_from(str(path))
    assert set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent)) == before


def test_unsafe_target_refused_before_import(tmp_path):
    m = Toy(OmegaConf.create({"dim": 2}))
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    cfg = Toy.restore_from(path, return_config=True)
    cfg.payload = {"_target_": "antigravity.geohash", "latitude": 1}
    assert "antigravity" not in sys.modules
    with pytest.raises(UnsafeTargetError, match="antigravity.geohash"):
        Toy.restore_from(path, override_config_path=cfg)
    assert "antigravity" not in sys.modules
    cfg.payload = {"_target_": "os.system", "command": "touch pwned"}
    with pytest.raises(UnsafeTargetError, match="os.system"):
        Toy.restore_from(path, override_config_path=cfg)
    assert not os.path.exists("pwned")


def test_target_outside_nemo_refused_by_modelpt(tmp_path):
    m = Toy(OmegaConf.create({"dim": 2}))
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    cfg = Toy.restore_from(path, return_config=True)
    cfg.target = "subprocess.Popen"
    with pytest.raises(UnsafeTargetError):
        ModelPT.restore_from(path, override_config_path=cfg)
    assert "toy" not in sys.modules


def test_safe_instantiate_allowlist_and_opt_in():
    assert isinstance(safe_instantiate({"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 1}), torch.nn.Linear)
    with pytest.raises(UnsafeTargetError):
        safe_instantiate({"_target_": "collections.OrderedDict"})
    with allowed_targets(["collections.OrderedDict"]):
        assert safe_instantiate({"_target_": "collections.OrderedDict"}) == {}
    with pytest.raises(UnsafeTargetError):
        safe_instantiate({"_target_": "collections.OrderedDict"})
    register_allowed_target_prefix("fractions.")
    assert str(safe_instantiate({"_target_": "fractions.Fraction", "numerator": 1, "denominator": 2})) == "1/2"
    with pytest.raises(UnsafeTargetError):
        safe_instantiate({"_target_": "nemox.Thing"})


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_pickled_code_in_weights_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    members = good_members(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"layer.weight": _Evil()}, protocol=2))
        zf.writestr("archive/version", "3\n")
    members["./model_weights.ckpt"] = buf.getvalue()
    path = tmp_path / "evil.nemo"
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            add_bytes(tar, name, data)
    with pytest.raises(ArchiveError, match="weights_only"):
        Toy.restore_from(str(path))
    assert not os.path.exists("pwned_by_pickle")
