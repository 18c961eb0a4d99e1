"""register_artifact naming, lifetime and round trips (spec core §3)."""

import gc
import os
import re
import tarfile

import pytest
from omegaconf import OmegaConf

from nemo.core import ArtifactError, NeMoBaseException
from nemo.utils.model_utils import ArtifactPathType
from tests.core.toy_models import Toy, Vocab, write_vocab


def vocab_model(tmp_path, **extra):
    return Vocab(OmegaConf.create({"vocab_file": write_vocab(tmp_path / "vocab.txt"), **extra}))


def test_register_returns_local_path_and_updates_config(tmp_path):
    m = vocab_model(tmp_path)
    assert m.cfg.vocab_file == str(tmp_path / "vocab.txt")
    item = m.artifacts["vocab_file"]
    assert item.path_type is ArtifactPathType.LOCAL_PATH and item.path == str(tmp_path / "vocab.txt")


def test_archive_name_is_content_hash_and_config_uses_nemo_prefix(tmp_path):
    m = vocab_model(tmp_path)
    m.save_to(str(tmp_path / "m.nemo"))
    with tarfile.open(tmp_path / "m.nemo") as tar:
        names = tar.getnames()
        cfg = OmegaConf.create(tar.extractfile("./model_config.yaml").read().decode())
    member = [n for n in names if n.endswith("_vocab.txt")][0][2:]
    assert re.fullmatch(r"[0-9a-f]{32}_vocab\.txt", member)
    assert cfg.vocab_file == f"nemo:{member}"
    # In-memory config keeps the real path.
    assert m.cfg.vocab_file == str(tmp_path / "vocab.txt")
    # Same content elsewhere -> same archive name.
    other = tmp_path / "sub"
    other.mkdir()
    m2 = Vocab(OmegaConf.create({"vocab_file": write_vocab(other / "vocab.txt")}))
    m2.save_to(str(tmp_path / "m2.nemo"))
    with tarfile.open(tmp_path / "m2.nemo") as tar:
        assert member in [n[2:] for n in tar.getnames()]


def test_artifact_path_valid_for_model_lifetime(tmp_path):
    m = vocab_model(tmp_path)
    m.save_to(str(tmp_path / "m.nemo"))
    r = Vocab.restore_from(str(tmp_path / "m.nemo"))
    gc.collect()
    assert os.path.isfile(r.cfg.vocab_file) and r.cfg.vocab_file == r.vocab_path
    assert r.artifacts["vocab_file"].path_type is ArtifactPathType.TAR_PATH
    folder = os.path.dirname(r.cfg.vocab_file)
    del r
    gc.collect()
    assert not os.path.exists(folder)


def test_artifacts_survive_two_round_trips(tmp_path):
    m = vocab_model(tmp_path)
    m.save_to(str(tmp_path / "1.nemo"))
    os.remove(tmp_path / "vocab.txt")
    r1 = Vocab.restore_from(str(tmp_path / "1.nemo"))
    r1.save_to(str(tmp_path / "2.nemo"))
    os.remove(tmp_path / "1.nemo")
    r2 = Vocab.restore_from(str(tmp_path / "2.nemo"))
    assert r2.vocab == m.vocab
    assert (tmp_path / "2.nemo").read_bytes() == _resave(r2, tmp_path / "3.nemo")


def _resave(model, path):
    model.save_to(str(path))
    return path.read_bytes()


def test_optional_artifact_returns_none(tmp_path):
    m = vocab_model(tmp_path, extra_file=str(tmp_path / "missing.txt"))
    assert m.extra is None and "extra_file" not in m.artifacts


def test_required_missing_artifact_raises_naming_it(tmp_path):
    with pytest.raises(ArtifactError, match="vocab_file.*nope.txt"):
        Vocab(OmegaConf.create({"vocab_file": str(tmp_path / "nope.txt")}))


def test_nemo_file_artifact_refused(tmp_path):
    m = Toy(OmegaConf.create({"dim": 2}))
    with pytest.raises(NeMoBaseException, match="register_nemo_submodule"):
        m.register_artifact("x", str(tmp_path / "x.nemo"))


def test_empty_src_is_returned_unchanged(tmp_path):
    m = Toy(OmegaConf.create({"dim": 2}))
    assert m.register_artifact("x", None) is None and m.register_artifact("x", "") == ""


def test_saved_artifact_deleted_before_save_is_an_error(tmp_path):
    m = vocab_model(tmp_path)
    os.remove(tmp_path / "vocab.txt")
    with pytest.raises(ArtifactError, match="vocab_file"):
        m.save_to(str(tmp_path / "m.nemo"))
    assert not (tmp_path / "m.nemo").exists()
