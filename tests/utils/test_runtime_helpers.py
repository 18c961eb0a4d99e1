"""Small runtime helpers: NamedTimer, rank detection, atomic checkpoint writes, config diffs, logger builders."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nemo.utils.callbacks.resume_config_diff import config_diff
from nemo.utils.checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from nemo.utils.get_rank import global_rank, is_global_rank_zero, local_rank
from nemo.utils.timers import NamedTimer


def test_named_timer_reductions():
    timer = NamedTimer(reduction="mean", buffer_size=2)
    for _ in range(3):
        timer.start("step")
        timer.stop("step")
    assert timer.get("step") >= 0 and len(timer._measured["step"]) == 2
    assert set(timer.export()) == {"step"}
    with pytest.raises(RuntimeError, match="not started"):
        timer.stop("other")
    timer.start("x")
    with pytest.raises(RuntimeError, match="already started"):
        timer.start("x")
    with pytest.raises(ValueError, match="reduction"):
        NamedTimer(reduction="median")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, (0, 0, True)),
        ({"RANK": "3", "LOCAL_RANK": "1"}, (3, 1, False)),
        ({"SLURM_PROCID": "0", "SLURM_LOCALID": "0"}, (0, 0, True)),
        ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, (1, 0, False)),
    ],
)
def test_rank_from_environment(monkeypatch, env, expected):
    for name in ("RANK", "PMIX_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "LOCAL_RANK", "SLURM_LOCALID",
                 "OMPI_COMM_WORLD_LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert (global_rank(), local_rank(), is_global_rank_zero()) == expected


def test_atomic_save_keeps_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "m-last.ckpt"
    atomic_torch_save({"step": 1}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-last.ckpt"]


def test_config_diff_lists_changed_added_and_removed_keys():
    old = {"cfg": {"lr": 0.1, "layers": [1, 2], "drop": 0.1}}
    new = OmegaConf.create({"cfg": {"lr": 0.2, "layers": [1, 2], "extra": True}})
    assert config_diff(old, new) == ["-cfg.drop: 0.1", "+cfg.extra: True", "cfg.lr: 0.1 -> 0.2"]
    assert config_diff(old, old) == []


def test_logger_builders(tmp_path):
    from nemo.utils.loggers import tensorboard_logger

    logger = tensorboard_logger(tmp_path, "exp", None, {"flush_secs": 5})
    assert Path(logger.log_dir) == tmp_path / "exp"  # no TensorBoard version_N folder
    logger = tensorboard_logger(tmp_path, "exp", "v1", None)
    assert Path(logger.log_dir) == tmp_path / "exp" / "v1"
    with pytest.raises(ValueError, match="log_dir"):
        tensorboard_logger(tmp_path, "exp", "v1", {"log_dir": "elsewhere"})
