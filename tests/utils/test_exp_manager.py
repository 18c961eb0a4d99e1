"""exp_manager with a plain LightningModule: log-dir layout, loggers, checkpoints, resume rules and errors."""

import os
import subprocess
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf.errors import ConfigKeyError
from torch.utils.data import DataLoader, TensorDataset

from nemo.utils import exp_manager as em
from nemo.utils import run_files
from nemo.utils.callbacks import NeMoModelCheckpoint, StatelessTimer, TimingCallback
from nemo.utils.exp_manager import (
    CheckpointMisconfigurationError,
    LoggerMisconfigurationError,
    NotFoundError,
    check_resume,
    clean_exp_ckpt,
    exp_manager,
)


class Tiny(pl.LightningModule):
    def __init__(self, lr: float = 0.1, sleep: float = 0.0):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        if self.hparams.sleep:
            time.sleep(self.hparams.sleep)
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def save_to(self, path):
        torch.save(self.state_dict(), path)


def _loader():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=gen)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def _trainer(**kwargs):
    defaults = dict(accelerator="cpu", max_epochs=2, enable_progress_bar=False, enable_model_summary=False,
                    log_every_n_steps=1, logger=False, enable_checkpointing=False)
    defaults.update(kwargs)
    return pl.Trainer(**defaults)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEMO_EXPM_VERSION", raising=False)
    monkeypatch.setattr(em, "_exported_version", None)
    yield
    run_files.FileLogs.detach()


def _fit(trainer, model=None):
    model = model or Tiny()
    trainer.fit(model, _loader(), _loader())
    return model


def test_disabled_without_cfg_or_with_fast_dev_run(tmp_path):
    assert exp_manager(_trainer(), None) is None
    assert exp_manager(_trainer(fast_dev_run=True), {"exp_dir": str(tmp_path)}) is None
    assert not (tmp_path / "default").exists()
    with pytest.raises(ValueError, match="Expected either a dict or a DictConfig"):
        exp_manager(_trainer(), "exp_dir=x")


def test_unknown_keys_fail_loudly():
    with pytest.raises(ConfigKeyError, match="no_such_key"):
        exp_manager(_trainer(), {"no_such_key": 1})
    with pytest.raises(ConfigKeyError, match="enabled"):  # the field is `enable`
        exp_manager(_trainer(), {"ema": {"enabled": True}})


def test_default_layout_and_files(tmp_path):
    log_dir = exp_manager(_trainer(), {})
    assert log_dir.parent == tmp_path / "nemo_experiments" / "default"
    time.strptime(log_dir.name, "%Y-%m-%d_%H-%M-%S")
    assert (log_dir / "cmd-args.log").read_text().strip() != ""
    assert (log_dir / "nemo_log_globalrank-0_localrank-0.txt").is_file()
    assert (log_dir / "nemo_error_log.txt").is_file()
    assert (log_dir / "lightning_logs.txt").is_file()


def test_fit_writes_tensorboard_hparams_topk_last_and_nemo(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = _trainer(max_epochs=4)
    log_dir = exp_manager(trainer, {"exp_dir": str(tmp_path / "exp"), "name": "tiny", "use_datetime_version": False,
                                    "checkpoint_callback_params": {"save_top_k": 2}})
    assert log_dir == tmp_path / "exp" / "tiny" / "version_0"
    assert isinstance(trainer.callbacks[0], TimingCallback)
    _fit(trainer)
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train_loss")] == list(range(16))
    val = [e.value for e in acc.Scalars("val_loss")]
    assert len(val) == 4 and val[-1] < val[0]
    assert "train_step_timing in s" in acc.Tags()["scalars"]
    assert "lr: 0.1" in (log_dir / "hparams.yaml").read_text()
    names = sorted(p.name for p in (log_dir / "checkpoints").iterdir())
    assert len([n for n in names if n.endswith(".ckpt") and not n.endswith("-last.ckpt")]) == 2
    assert [n for n in names if n.endswith("-last.ckpt")] == [f"tiny--val_loss={val[-1]:.4f}-epoch=3-last.ckpt"]
    assert "tiny.nemo" in names
    state = torch.load(log_dir / "checkpoints" / "tiny.nemo", weights_only=True)
    assert set(state) == {"layer.weight", "layer.bias"}
    assert not list((log_dir / "checkpoints").glob(".*"))  # no temporary files left


def test_explicit_log_dir_and_version_folders(tmp_path):
    explicit = tmp_path / "here"
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert exp_manager(_trainer(), {"explicit_log_dir": str(explicit), "files_to_copy": [str(notes)]}) == explicit
    assert (explicit / "cmd-args.log").is_file()
    assert (explicit / "notes.txt").read_text() == "hello"
    root = tmp_path / "exp"
    first = exp_manager(_trainer(), {"exp_dir": str(root), "use_datetime_version": False})
    second = exp_manager(_trainer(), {"exp_dir": str(root), "use_datetime_version": False})
    assert (first.name, second.name) == ("version_0", "version_1")
    fixed = exp_manager(_trainer(), {"exp_dir": str(root), "version": "mine"})
    assert fixed == root / "default" / "mine"


def test_version_env_does_not_leak_into_the_next_call(tmp_path):
    first = exp_manager(_trainer(), {"exp_dir": str(tmp_path)})
    assert os.environ["NEMO_EXPM_VERSION"] == first.name  # DDP children inherit it
    second = exp_manager(_trainer(), {"exp_dir": str(tmp_path), "use_datetime_version": False})
    assert second.name == "version_0"
    resumed = exp_manager(_trainer(), {"exp_dir": str(tmp_path), "resume_if_exists": True,
                                       "resume_ignore_no_checkpoint": True})
    assert resumed == tmp_path / "default"


def test_inherited_version_env_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("NEMO_EXPM_VERSION", "from_parent")
    assert exp_manager(_trainer(), {"exp_dir": str(tmp_path)}).name == "from_parent"


def test_lightning_defaults_are_replaced_but_user_objects_conflict(tmp_path):
    trainer = pl.Trainer(accelerator="cpu", enable_progress_bar=False)  # default logger and checkpoint
    exp_manager(trainer, {"exp_dir": str(tmp_path)})
    assert [type(l).__name__ for l in trainer.loggers] == ["TensorBoardLogger"]
    assert [type(c) for c in trainer.callbacks if isinstance(c, ModelCheckpoint)] == [NeMoModelCheckpoint]

    user_logger = TensorBoardLogger(save_dir=str(tmp_path), name="mine")
    with pytest.raises(LoggerMisconfigurationError, match="logger=False"):
        exp_manager(_trainer(logger=user_logger), {"exp_dir": str(tmp_path)})
    with pytest.raises(CheckpointMisconfigurationError):
        exp_manager(_trainer(enable_checkpointing=True, callbacks=[ModelCheckpoint(dirpath=str(tmp_path))]), {})
    with pytest.raises(ValueError, match="log_local_rank_0_only"):
        exp_manager(_trainer(), {"log_local_rank_0_only": True, "log_global_rank_0_only": True})
    with pytest.raises(ValueError, match="log_dir"):
        exp_manager(_trainer(), {"summary_writer_kwargs": {"log_dir": "x"}})


def test_previous_run_files_move_to_run_n(tmp_path):
    cfg = {"exp_dir": str(tmp_path), "version": "v"}
    log_dir = exp_manager(_trainer(), cfg)
    exp_manager(_trainer(), cfg)
    exp_manager(_trainer(), cfg)
    assert (log_dir / "run_0" / "cmd-args.log").is_file()
    assert (log_dir / "run_1" / "cmd-args.log").is_file()
    assert (log_dir / "cmd-args.log").is_file()


def test_git_info_is_written_inside_a_work_tree(tmp_path):
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "f.txt").write_text("a\n")
    subprocess.run(["git", "add", "f.txt"], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True)
    (tmp_path / "f.txt").write_text("b\n")
    log_dir = exp_manager(_trainer(), {"version": "v"})
    info = (log_dir / "git-info.log").read_text()
    assert info.startswith("commit hash: ") and "+b" in info


def _touch(path: Path, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_check_resume_rules(tmp_path):
    trainer = _trainer()
    ckpts = tmp_path / "checkpoints"
    with pytest.raises(NotFoundError, match="Cannot resume"):
        check_resume(trainer, tmp_path, resume_if_exists=True)
    assert check_resume(trainer, tmp_path, resume_if_exists=True, resume_ignore_no_checkpoint=True) is None
    with pytest.raises(ValueError, match="log_dir"):
        check_resume(trainer, "", resume_if_exists=True)

    last = _touch(ckpts / "m--val_loss=0.5-epoch=1-last.ckpt", mtime=1000)
    assert check_resume(trainer, tmp_path, resume_if_exists=True) == last
    assert trainer.ckpt_path == str(last)
    newer = _touch(ckpts / "m--val_loss=0.4-epoch=2-last.ckpt", mtime=2000)
    assert check_resume(trainer, tmp_path, resume_if_exists=True) == newer  # a crash can leave two

    _touch(ckpts / "m--val_loss=0.4-epoch=2-last-unfinished")
    _touch(ckpts / "m--val_loss=0.5-epoch=1-last-unfinished")
    with pytest.raises(ValueError, match="unfinished"):
        check_resume(trainer, tmp_path, resume_if_exists=True)


def test_check_resume_end_checkpoints(tmp_path):
    trainer = _trainer()
    end = _touch(tmp_path / "checkpoints" / "m-end.ckpt")
    with pytest.raises(ValueError, match="already completed"):
        check_resume(trainer, tmp_path, resume_if_exists=True)
    assert check_resume(trainer, tmp_path, resume_if_exists=True, resume_past_end=True) == end  # NeMo restarts
    _touch(tmp_path / "checkpoints" / "other-end.ckpt")
    with pytest.raises(ValueError, match="Multiple checkpoints"):
        check_resume(trainer, tmp_path, resume_if_exists=True, resume_past_end=True)


def test_resume_from_checkpoint_and_missing_file(tmp_path):
    trainer = _trainer()
    given = _touch(tmp_path / "given.ckpt")
    assert check_resume(trainer, tmp_path, resume_from_checkpoint=str(given)) == given
    with pytest.raises(NotFoundError):
        check_resume(_trainer(), tmp_path, resume_from_checkpoint=str(tmp_path / "missing.ckpt"))


def test_resume_restores_training_and_reports_config_changes(tmp_path, caplog):
    cfg = {"exp_dir": str(tmp_path), "resume_if_exists": True, "resume_ignore_no_checkpoint": True}
    trainer = _trainer(max_epochs=2)
    exp_manager(trainer, cfg)
    _fit(trainer)
    trainer2 = _trainer(max_epochs=3)
    exp_manager(trainer2, cfg)
    assert trainer2.ckpt_path.endswith("-last.ckpt")
    diff = next(cb for cb in trainer2.callbacks if type(cb).__name__ == "ResumeConfigDiff")
    _fit(trainer2, Tiny(lr=0.05))
    assert trainer2.global_step == 12  # 8 restored + 4 new
    assert diff.last_diff == ["lr: 0.1 -> 0.05"]


def test_early_stopping_stops_training(tmp_path):
    trainer = _trainer(max_epochs=50)
    exp_manager(trainer, {"exp_dir": str(tmp_path), "create_early_stopping_callback": True,
                          "early_stopping_callback_params": {"patience": 1, "min_delta": 10.0}})
    _fit(trainer)
    assert trainer.current_epoch < 5


def test_max_time_per_run_saves_last_and_stops(tmp_path):
    trainer = _trainer(max_epochs=1000)
    log_dir = exp_manager(trainer, {"exp_dir": str(tmp_path), "max_time_per_run": "00:00:00:01"})
    assert any(isinstance(cb, StatelessTimer) for cb in trainer.callbacks)
    _fit(trainer, Tiny(sleep=0.1))
    assert trainer.global_step < 40
    assert list((log_dir / "checkpoints").glob("*-last.ckpt"))


def test_clean_exp_ckpt(tmp_path):
    _touch(tmp_path / "checkpoints" / "a.ckpt")
    _touch(tmp_path / "checkpoints" / "a.nemo")
    clean_exp_ckpt(tmp_path)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["a.nemo"]
    clean_exp_ckpt(tmp_path, remove_ckpt=False, remove_nemo=True)
    assert list((tmp_path / "checkpoints").iterdir()) == []


@pytest.mark.slow
def test_mlflow_logger_writes_a_local_file_store(tmp_path):
    pytest.importorskip("mlflow")
    trainer = _trainer(max_epochs=1)
    store = tmp_path / "mlruns"
    exp_manager(trainer, {"exp_dir": str(tmp_path), "name": "mlf", "create_mlflow_logger": True,
                          "mlflow_logger_kwargs": {"tracking_uri": f"file:{store}"}})
    _fit(trainer)
    metric_files = list(store.glob("*/*/metrics/train_loss"))
    assert metric_files, list(store.rglob("*"))[:20]
    assert len(metric_files[0].read_text().splitlines()) == 4


@pytest.mark.slow
def test_wandb_logger_offline_under_the_log_dir(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    trainer = _trainer(max_epochs=1)
    log_dir = exp_manager(trainer, {"exp_dir": str(tmp_path), "name": "wb", "create_wandb_logger": True,
                                    "create_tensorboard_logger": False})
    _fit(trainer)
    trainer.loggers[0].experiment.finish()
    runs = list((log_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_checkpoint_params_filename_always_save_nemo_and_train_end(tmp_path):
    trainer = _trainer(max_epochs=2)
    log_dir = exp_manager(trainer, {"exp_dir": str(tmp_path), "name": "n", "version": "a",
                                    "checkpoint_callback_params": {"filename": "{epoch}-{step}", "save_top_k": -1,
                                                                   "always_save_nemo": True,
                                                                   "save_nemo_on_train_end": False,
                                                                   "prefix": "model"}})
    saved = []
    model = Tiny()
    model.save_to = lambda path: saved.append(trainer.global_step) or torch.save(model.state_dict(), path)
    _fit(trainer, model)
    names = sorted(p.name for p in (log_dir / "checkpoints").iterdir())
    assert names == ["epoch=0-step=4.ckpt", "epoch=1-step=8-last.ckpt", "epoch=1-step=8.ckpt", "model.nemo"]
    assert saved == [4, 4, 8, 8]  # at every checkpoint write (top-k and last), none at train end

    trainer = _trainer(max_epochs=1)
    log_dir = exp_manager(trainer, {"exp_dir": str(tmp_path), "version": "b",
                                    "checkpoint_callback_params": {"save_nemo_on_train_end": False}})
    _fit(trainer)
    assert not list((log_dir / "checkpoints").glob("*.nemo"))


def test_save_best_model_writes_the_best_weights(tmp_path):
    class GetsWorse(Tiny):
        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.tensor(float(self.current_epoch)))

    trainer = _trainer(max_epochs=3)
    log_dir = exp_manager(trainer, {"exp_dir": str(tmp_path), "name": "b", "version": "v",
                                    "checkpoint_callback_params": {"save_best_model": True, "save_top_k": 1}})
    model = _fit(trainer, GetsWorse())
    best = torch.load(next((log_dir / "checkpoints").glob("*epoch=0.ckpt")), weights_only=True)["state_dict"]
    nemo = torch.load(log_dir / "checkpoints" / "b.nemo", weights_only=True)
    assert torch.equal(nemo["layer.weight"], best["layer.weight"])
    assert torch.equal(model.layer.weight.detach(), best["layer.weight"])  # the model now holds them too
