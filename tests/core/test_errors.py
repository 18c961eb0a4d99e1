"""Bad input gives one clear exception from nemo.core naming the path or key (issue 2 item 9)."""

import io
import tarfile

import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import (
    ArchiveError,
    ArchiveNotFoundError,
    ModelClassError,
    ModelPT,
    NeMoBaseException,
    WeightsMismatchError,
)
from tests.core.toy_models import Toy


def saved(tmp_path, dim=4):
    m = Toy(OmegaConf.create({"dim": dim}))
    path = tmp_path / "m.nemo"
    m.save_to(str(path))
    return path


def test_missing_file(tmp_path):
    with pytest.raises(ArchiveNotFoundError, match="nope.nemo"):
        Toy.restore_from(str(tmp_path / "nope.nemo"))
    with pytest.raises(FileNotFoundError):
        Toy.restore_from(str(tmp_path / "nope.nemo"))


def test_not_a_tar(tmp_path):
    path = tmp_path / "junk.nemo"
    path.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(ArchiveError, match="junk.nemo"):
        Toy.restore_from(str(path))


@pytest.mark.parametrize("where", ["weights", "header", "end-blocks"])
def test_truncated(tmp_path, where):
    path = saved(tmp_path, dim=512)
    data = path.read_bytes()
    with tarfile.open(path) as tar:
        weights = tar.getmember("./model_weights.ckpt")
    cut_at = {
        "weights": weights.offset_data + weights.size // 2,
        "header": weights.offset + 100,
        "end-blocks": weights.offset_data + weights.size,
    }[where]
    cut = tmp_path / "cut.nemo"
    cut.write_bytes(data[:cut_at])
    with pytest.raises(ArchiveError, match="cut.nemo"):
        Toy.restore_from(str(cut))


def test_no_config(tmp_path):
    path = tmp_path / "noconf.nemo"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("./model_weights.ckpt")
        data = io.BytesIO()
        torch.save({}, data)
        info.size = len(data.getvalue())
        tar.addfile(info, io.BytesIO(data.getvalue()))
    with pytest.raises(ArchiveError, match="model_config.yaml"):
        Toy.restore_from(str(path))


def test_unknown_class(tmp_path):
    path = saved(tmp_path)
    cfg = Toy.restore_from(str(path), return_config=True)
    cfg.target = "nemo.collections.nothing.Here"
    with pytest.raises(ModelClassError, match="nemo.collections.nothing"):
        ModelPT.restore_from(str(path), override_config_path=cfg)


def test_weights_that_dont_fit_list_keys(tmp_path):
    path = saved(tmp_path)
    cfg = Toy.restore_from(str(path), return_config=True)
    cfg.dim = 3
    with pytest.raises(WeightsMismatchError, match=r"mis-shaped \(1\): layer.weight"):
        Toy.restore_from(str(path), override_config_path=cfg)

    class Wider(Toy):
        def __init__(self, cfg, trainer=None):
            super().__init__(cfg, trainer)
            self.extra = torch.nn.Linear(2, 2)

    with pytest.raises(WeightsMismatchError, match=r"missing \(2\): extra.weight, extra.bias"):
        Wider.restore_from(str(path))
    r = Wider.restore_from(str(path), strict=False)
    assert torch.equal(r.layer.weight, Toy.restore_from(str(path)).layer.weight)


def test_constructor_failure_is_wrapped_and_state_is_clean(tmp_path):
    path = saved(tmp_path)

    class Broken(Toy):
        def __init__(self, cfg, trainer=None):
            super().__init__(cfg, trainer)
            raise KeyError("needs_key")

    with pytest.raises(ModelClassError, match="needs_key"):
        Broken.restore_from(str(path))
    assert not ModelPT._is_model_being_restored()
    fresh = Toy(OmegaConf.create({"dim": 4, "train_ds": {"n": 4}}))
    assert fresh.setup_calls, "a failed restore must not leave the restore flag set"


def test_all_errors_share_a_base(tmp_path):
    for exc in (ArchiveError, ModelClassError, WeightsMismatchError):
        assert issubclass(exc, NeMoBaseException)
