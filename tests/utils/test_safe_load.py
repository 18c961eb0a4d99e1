"""Weights-only checkpoint loading that lists a pickle's globals before anything runs."""

import _compat_pickle
import collections
import io
import os
import pickle
import pickletools

import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import ArchiveError, UnsafeArchiveError
from nemo.utils.safe_load import load_checkpoint, pickle_globals, scan_pickle


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_config_checkpoint_loads_in_both_torch_formats(tmp_path):
    obj = {"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"cfg": OmegaConf.create({"a": [1, {"b": 2}]})}}
    for legacy in (False, True):
        path = tmp_path / f"m{legacy}.ckpt"
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        loaded = load_checkpoint(str(path))
        assert loaded["hyper_parameters"]["cfg"].a[1].b == 2 and torch.equal(loaded["state_dict"]["w"], torch.ones(2))


def test_code_in_the_pickle_is_named_and_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    torch.save({"x": _Boom()}, path)
    assert any(name.endswith(".system") for name in pickle_globals(str(path)))
    with pytest.raises(UnsafeArchiveError, match="system"):
        load_checkpoint(str(path))
    assert not (tmp_path / "pwned").exists()
    with open(tmp_path / "plain.pkl", "wb") as f:  # protocol 4+ pickles name globals with STACK_GLOBAL
        pickle.dump({"x": _Boom()}, f, protocol=4)
    assert any(name.endswith(".system") for name in pickle_globals(str(tmp_path / "plain.pkl")))


class _Recorder(pickle._Unpickler):
    """The exact list of globals: what a real unpickler asks for (only used on pickles made by this test)."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.names = set()

    def find_class(self, module, name):
        if self.proto < 3:  # what Python itself maps protocol-2 names to
            module, name = _compat_pickle.NAME_MAPPING.get(
                (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        self.names.add(f"{module}.{name}")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return None


def _nemo_like_config():
    return OmegaConf.create({"encoder": {"jasper": [{"filters": 8, "kernel": [3]}, {"filters": 8, "kernel": [5]}]},
                             "labels": ["a", "b"], "optim": {"name": "adam", "sched": {"name": "CosineAnnealing"}}})


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_listed_globals_are_exactly_what_unpickling_asks_for(protocol):
    obj = {"cfg": _nemo_like_config(), "again": _nemo_like_config(), "od": collections.OrderedDict(a=1)}
    data = pickle.dumps(obj, protocol=protocol)
    if protocol >= 4:  # the case the old guess got wrong: module/name strings fetched from the memo
        assert any(op.name in ("BINGET", "LONG_BINGET") for op, _, _ in pickletools.genops(data))
    recorder = _Recorder(data)
    recorder.load()
    assert scan_pickle(io.BytesIO(data)) == recorder.names


def test_clean_protocol_4_lightning_checkpoint_loads(tmp_path):
    import lightning.pytorch as pl

    from tests.core.toy_models import Toy

    model = Toy(OmegaConf.create({"dim": 2, "optim": {"name": "sgd", "lr": 0.1}}))
    trainer = pl.Trainer(accelerator="cpu", max_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    ckpt = torch.load(tmp_path / "m.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["cfg"] = OmegaConf.create(ckpt["hyper_parameters"]["cfg"])  # pickled like NeMo's
    torch.save(ckpt, tmp_path / "p4.ckpt", pickle_protocol=4)
    assert "omegaconf.dictconfig.DictConfig" in pickle_globals(str(tmp_path / "p4.ckpt"))
    loaded = Toy.load_from_checkpoint(str(tmp_path / "p4.ckpt"))
    assert torch.equal(loaded.layer.weight, model.layer.weight) and loaded.cfg.dim == 2


def test_a_dangerous_global_built_from_memoised_strings_is_named(tmp_path):
    """`posix.system` assembled from memo entries, after two decoy strings: the last two strings pushed lie."""
    p = b"\x80\x04"
    p += b"\x8c\x05posix\x94" + b"\x8c\x06system\x94" + b"0" + b"0"  # memo 0, 1; popped again
    p += b"\x8c\x05decoy\x94" + b"\x8c\x04name\x94" + b"0" + b"0"
    command = b"touch pwned_bg"
    p += b"h\x00h\x01\x93" + b"\x8c" + bytes([len(command)]) + command + b"\x85R."
    assert scan_pickle(io.BytesIO(p)) == {"posix.system"}
    path = tmp_path / "evil.pkl"
    path.write_bytes(p)
    with pytest.raises(UnsafeArchiveError, match="posix.system"):
        load_checkpoint(str(path))
    assert not (tmp_path / "pwned_bg").exists()


def test_malformed_pickles_raise_ours(tmp_path):
    for bad in (b"\x80\x04\x93.", b"\x80\x04h\x05.", b"\x80\x04\x8c\x01ar\xf0\xff\xff\xff.", b"\x80\x04K\x01K\x02\x93."):
        with pytest.raises(ArchiveError):
            scan_pickle(io.BytesIO(bad))
