"""`.nemo` format, save_to/restore_from options and the golden archives (spec core §2)."""

import gzip
import io
import os
import tarfile

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import ArchiveError, ModelPT, UnsafeTargetError
from nemo.core.connectors.save_restore_connector import SaveRestoreConnector
from tests.core.toy_models import Toy, Vocab, write_vocab


class TextArtifactModel(ModelPT):
    """The golden README's model: vocab artifact, embed + proj."""

    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        path = self.register_artifact("vocab_file", cfg.vocab_file)
        vocab = [line.strip() for line in open(path) if line.strip()]
        self.embed = torch.nn.Embedding(len(vocab), cfg.dim)
        self.proj = torch.nn.Linear(cfg.dim, len(vocab))

    def setup_training_data(self, cfg):
        pass

    def setup_validation_data(self, cfg):
        pass

    def forward(self, ids):
        return self.proj(self.embed(ids))


def golden_state_dict(path):
    with tarfile.open(path) as tar:
        data = tar.extractfile("./model_weights.ckpt").read()
    return torch.load(io.BytesIO(data), weights_only=True)


def toy(dim=4):
    torch.manual_seed(0)
    return Toy(OmegaConf.create({"dim": dim}))


def test_golden_text_artifact_model_restores_identically(golden):
    model = TextArtifactModel.restore_from(str(golden / "text_artifact_model.nemo"))
    expected = golden_state_dict(golden / "text_artifact_model.nemo")
    for k, v in model.state_dict().items():
        assert torch.equal(v, expected[k]), k
    logits = model(torch.arange(9)).detach().numpy()
    np.testing.assert_allclose(logits, np.load(golden / "text_artifact_logits.npy"), atol=1e-6)
    assert os.path.isfile(model.cfg.vocab_file)
    assert open(model.cfg.vocab_file).read().split() == (golden / "artifact_src" / "vocab.txt").read_text().split()


def test_golden_archive_refused_through_modelpt_unless_allowed(golden):
    path = str(golden / "text_artifact_model.nemo")
    with pytest.raises(UnsafeTargetError, match="toy_models.TextArtifactModel"):
        ModelPT.restore_from(path)
    # Opting in makes the module importable-if-present; it isn't, so the error says so.
    with pytest.raises(Exception, match="toy_models"):
        ModelPT.restore_from(path, allowed_targets=["toy_models."])


def test_golden_round_trip_keeps_layout(golden, tmp_path):
    model = TextArtifactModel.restore_from(str(golden / "text_artifact_model.nemo"))
    out = tmp_path / "again.nemo"
    model.save_to(str(out))
    with tarfile.open(out) as ours, tarfile.open(golden / "text_artifact_model.nemo") as theirs:
        assert [m.name for m in ours.getmembers()][0] == "."
        assert [m.isdir() for m in ours.getmembers()] == [m.isdir() for m in theirs.getmembers()]
        our_names = [m.name for m in ours.getmembers()]
        assert our_names[2:] == ["./model_config.yaml", "./model_weights.ckpt"]
        assert our_names[1].startswith("./") and our_names[1].endswith("_vocab.txt") and len(our_names[1]) == 2 + 33 + 9
        assert ours.getmembers()[0].mode == 0o700
    again = TextArtifactModel.restore_from(str(out))
    assert torch.equal(again.proj.weight, model.proj.weight)


def test_archive_layout_and_config(tmp_path):
    m = toy()
    m.save_to(str(tmp_path / "m.nemo"))
    with tarfile.open(tmp_path / "m.nemo") as tar:
        assert tar.getnames() == [".", "./model_config.yaml", "./model_weights.ckpt"]
        cfg = OmegaConf.create(tar.extractfile("./model_config.yaml").read().decode())
        sd = torch.load(io.BytesIO(tar.extractfile("./model_weights.ckpt").read()), weights_only=True)
    assert cfg.target == "tests.core.toy_models.Toy" and "nemo_version" in cfg
    assert set(sd) == {"layer.weight", "layer.bias"}
    assert os.path.getsize(tmp_path / "m.nemo") % 10240 == 0


def test_saving_twice_is_byte_identical(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    m = Vocab(OmegaConf.create({"vocab_file": vocab}))
    m.save_to(str(tmp_path / "a.nemo"))
    m.save_to(str(tmp_path / "b.nemo"))
    assert (tmp_path / "a.nemo").read_bytes() == (tmp_path / "b.nemo").read_bytes()


def test_restore_via_subclass_and_modelpt(tmp_path):
    m = toy()
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    r = Toy.restore_from(path)
    assert type(r) is Toy and torch.equal(r.layer.weight, m.layer.weight)
    with pytest.raises(UnsafeTargetError):
        ModelPT.restore_from(path)
    r2 = ModelPT.restore_from(path, allowed_targets=["tests."])
    assert type(r2) is Toy


def test_restore_skips_data_setup(tmp_path):
    m = Toy(OmegaConf.create({"dim": 4, "train_ds": {"n": 8}}))
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    r = Toy.restore_from(path)
    assert r.setup_calls == [] and r.is_being_restored
    assert ModelPT._is_model_being_restored() is False
    fresh = Toy(OmegaConf.create({"dim": 4, "train_ds": {"n": 8}}))
    assert fresh.setup_calls and not fresh.is_being_restored


def test_return_config_builds_nothing(tmp_path):
    m = toy()
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    cfg = Toy.restore_from(path, return_config=True)
    assert cfg.dim == 4 and cfg.target == "tests.core.toy_models.Toy"


def test_override_config_relative_path_dictconfig_and_model_key(tmp_path, monkeypatch):
    m = toy()
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    cfg = Toy.restore_from(path, return_config=True)
    cfg.extra = "x"
    r = Toy.restore_from(path, override_config_path=cfg)
    assert r.cfg.extra == "x"
    monkeypatch.chdir(tmp_path)
    OmegaConf.save(OmegaConf.create({"model": OmegaConf.to_container(cfg), "trainer": {"devices": 1}}), "over.yaml")
    r = Toy.restore_from(path, override_config_path="over.yaml")
    assert r.cfg.extra == "x" and "trainer" not in r.cfg


def test_extracted_folder_and_pack_false(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    m = Vocab(OmegaConf.create({"vocab_file": vocab}))
    connector = SaveRestoreConnector()
    connector.pack_nemo_file = False
    m._save_restore_connector = connector
    folder = tmp_path / "unpacked"
    folder.mkdir()
    m.save_to(str(folder / "model.nemo"))
    names = sorted(os.listdir(folder))
    assert names[1:] == ["model_config.yaml", "model_weights.ckpt"] and names[0].endswith("_vocab.txt")
    reader = SaveRestoreConnector()
    reader.model_extracted_dir = str(folder)
    r = Vocab.restore_from("ignored.nemo", save_restore_connector=reader)
    assert r.vocab == m.vocab and torch.equal(r.embed.weight, m.embed.weight)
    r2 = Vocab.restore_from(str(folder))
    assert torch.equal(r2.embed.weight, m.embed.weight)
    assert sorted(os.listdir(folder)) == names


def test_gzip_archive_from_old_nemo_reads(tmp_path):
    m = toy()
    path = tmp_path / "m.nemo"
    m.save_to(str(path))
    gz = tmp_path / "old.nemo"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    r = Toy.restore_from(str(gz))
    assert torch.equal(r.layer.weight, m.layer.weight)


def test_failed_save_leaves_old_file_identical(tmp_path, monkeypatch):
    m = toy()
    path = tmp_path / "m.nemo"
    m.save_to(str(path))
    before = path.read_bytes()

    def boom(state_dict, f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(SaveRestoreConnector, "_save_state_dict_to_disk", staticmethod(boom))
    with pytest.raises(RuntimeError, match="disk full"):
        toy(dim=4).save_to(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.nemo"]


def test_map_location_and_strict_false(tmp_path):
    m = toy()
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    r = Toy.restore_from(path, map_location="cpu")
    assert r.layer.weight.device.type == "cpu"
    cfg = Toy.restore_from(path, return_config=True)
    cfg.dim = 3
    r = Toy.restore_from(path, override_config_path=cfg, strict=False)
    assert r.layer.weight.shape == (1, 3)


def test_custom_connector_modify_state_dict(tmp_path):
    m = toy()
    path = str(tmp_path / "m.nemo")
    m.save_to(path)

    class Zeroing(SaveRestoreConnector):
        def modify_state_dict(self, conf, state_dict):
            return {k: torch.zeros_like(v) for k, v in state_dict.items()}

    r = Toy.restore_from(path, save_restore_connector=Zeroing())
    assert r.layer.weight.abs().sum() == 0 and isinstance(r._save_restore_connector, Zeroing)


def test_weights_not_copied_at_restore_use_file_data(tmp_path):
    torch.manual_seed(1)
    m = Toy(OmegaConf.create({"dim": 64}))
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    r = Toy.restore_from(path)
    # Loaded tensors are independent copies (mapped pages are released after load).
    r.layer.weight.data.add_(1)
    r2 = Toy.restore_from(path)
    assert torch.equal(r2.layer.weight, m.layer.weight)


def test_corrupt_config_yaml_is_archive_error(tmp_path):
    path = tmp_path / "bad.nemo"
    with tarfile.open(path, "w") as tar:
        data = b"a: [unclosed"
        info = tarfile.TarInfo("./model_config.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveError, match="model_config.yaml"):
        Toy.restore_from(str(path))


class _Mixed(ModelPT):
    """Parameters the in-place reader takes (contiguous, same dtype) beside ones it leaves to load_state_dict."""

    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.layer = torch.nn.Linear(8, 5)
        self.register_buffer("as_double", torch.zeros(3, dtype=torch.float64 if cfg.get("double") else torch.float32))
        self.register_buffer("strided", torch.zeros(4, 6).t())
        self.register_buffer("empty", torch.zeros(0))

    def setup_training_data(self, cfg):
        pass

    def setup_validation_data(self, cfg):
        pass


def test_weights_read_in_place_or_copied_all_arrive(tmp_path):
    torch.manual_seed(3)
    m = _Mixed(OmegaConf.create({}))
    m.as_double.copy_(torch.randn(3))
    m.strided.copy_(torch.randn(6, 4))
    path = str(tmp_path / "m.nemo")
    m.save_to(path)
    cfg = _Mixed.restore_from(path, return_config=True)
    cfg.double = True  # the model's buffer is float64, the file's float32: copied with conversion
    r = _Mixed.restore_from(path, override_config_path=cfg)
    assert torch.equal(r.layer.weight, m.layer.weight) and torch.equal(r.layer.bias, m.layer.bias)
    assert r.as_double.dtype == torch.float64 and torch.equal(r.as_double, m.as_double.double())
    assert not r.strided.is_contiguous() and torch.equal(r.strided, m.strided)
    r.layer.weight.data.add_(1)  # the model owns its memory: the archive is untouched
    assert torch.equal(_Mixed.restore_from(path).layer.weight, m.layer.weight)
