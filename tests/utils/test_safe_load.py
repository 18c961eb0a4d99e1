"""Weights-only checkpoint loading that lists a pickle's globals before anything runs."""

import os
import pickle

import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import UnsafeArchiveError
from nemo.utils.safe_load import load_checkpoint, pickle_globals


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
