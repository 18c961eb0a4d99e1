"""Structured configs and Trainer-from-config: dataclasses as model configs, every example YAML composes, every
trainer key is a Lightning flag, and a short in-process fit shows loss and learning rate on the progress bar."""

import dataclasses
import inspect
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nemo.core.config import ModelConfig, NemoConfig, OptimConfig, SchedConfig, TrainerConfig
from nemo.core.config.modelPT import ModelConfigBuilder
from nemo.utils.exp_manager import ExpManagerConfig

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "core"
CONFIGS = sorted((EXAMPLE_DIR / "conf").rglob("*.yaml"))


@pytest.fixture
def tiny_model():
    sys.path.insert(0, str(EXAMPLE_DIR))
    try:
        import tiny_model

        yield tiny_model
    finally:
        sys.path.remove(str(EXAMPLE_DIR))


def test_dataclass_model_config_is_changed_like_a_dataclass(tiny_model):
    cfg = tiny_model.TinyRegressionConfig()
    cfg.hidden = 12
    cfg.train_ds.batch_size = 8
    model = tiny_model.TinyRegressionModel(cfg=OmegaConf.structured(cfg))
    assert model.cfg.hidden == 12 and model.net[0].out_features == 12
    assert model._train_dl.batch_size == 8
    assert isinstance(cfg, ModelConfig)


def test_nemo_dataclasses_defaults():
    assert OmegaConf.is_missing(OmegaConf.structured(OptimConfig()), "name")
    assert SchedConfig(name="CosineAnnealing").min_lr == 0.0 and SchedConfig(name="x").last_epoch == -1
    nemo_cfg = OmegaConf.structured(NemoConfig(name="x", model=ModelConfig()))
    assert nemo_cfg.trainer.enable_checkpointing is False and nemo_cfg.trainer.logger is False
    assert nemo_cfg.trainer.accelerator == "gpu" and nemo_cfg.trainer.strategy == "ddp"
    assert nemo_cfg.exp_manager.checkpoint_callback_params.save_top_k == 3
    assert nemo_cfg.hydra.run.dir == "."
    assert TrainerConfig().max_epochs == 1000 and TrainerConfig().enable_checkpointing is False
    fields = {f.name for f in dataclasses.fields(ExpManagerConfig)}
    assert {"exp_dir", "name", "version", "use_datetime_version", "explicit_log_dir", "resume_if_exists",
            "max_time_per_run", "checkpoint_callback_params"} <= fields


def test_every_trainer_config_field_is_a_lightning_flag():
    accepted = set(inspect.signature(pl.Trainer.__init__).parameters)
    assert {f.name for f in dataclasses.fields(TrainerConfig)} <= accepted


def test_model_config_builder_names_optimizer_and_scheduler():
    from nemo.core.config.optimizers import AdamParams
    from nemo.core.config.schedulers import CosineAnnealingParams

    class Builder(ModelConfigBuilder):
        def _finalize_cfg(self):
            pass

    builder = Builder(ModelConfig())
    builder.set_optim(AdamParams(lr=0.01), CosineAnnealingParams(min_lr=1e-5))
    cfg = OmegaConf.structured(builder.build())
    assert cfg.optim.name == "adam" and cfg.optim.lr == 0.01
    assert cfg.optim.sched.name == "CosineAnnealing" and cfg.optim.sched.min_lr == 1e-5
    with pytest.raises(NotImplementedError):
        ModelConfigBuilder(ModelConfig()).build()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_example_yaml_composes_and_builds_its_parts(path, tiny_model, tmp_path):
    with initialize_config_dir(config_dir=str(path.parent), version_base=None):
        cfg = compose(config_name=path.stem)
    assert {"trainer", "exp_manager", "model"} <= set(cfg)
    assert {"train_ds", "validation_ds", "test_ds", "optim"} <= set(cfg.model)
    assert set(cfg.trainer) <= set(inspect.signature(pl.Trainer.__init__).parameters)
    trainer = pl.Trainer(**cfg.trainer)
    from nemo.utils.exp_manager import _merge_config

    _merge_config(cfg.exp_manager)  # every key is an ExpManagerConfig field
    model = tiny_model.TinyRegressionModel(cfg=cfg.model, trainer=trainer)
    assert model._train_dl is not None and model._validation_dl is not None


def _fit_one_epoch(tiny_model, tmp_path, monkeypatch):
    from nemo.utils import run_files
    from nemo.utils.exp_manager import exp_manager

    monkeypatch.setenv("NEMO_EXPM_VERSION", "")  # restored (unset) after the test
    with initialize_config_dir(config_dir=str(EXAMPLE_DIR / "conf"), version_base=None):
        cfg = compose(config_name="tiny_model", overrides=["trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                                                           f"exp_manager.exp_dir={tmp_path}", "exp_manager.version=v"])
    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.exp_manager)
    model = tiny_model.TinyRegressionModel(cfg=cfg.model, trainer=trainer)
    try:
        trainer.fit(model)
    finally:
        run_files.FileLogs.detach()
    return trainer, log_dir


@pytest.mark.slow
def test_progress_bar_shows_loss_and_learning_rate(tiny_model, tmp_path, monkeypatch):
    trainer, _ = _fit_one_epoch(tiny_model, tmp_path, monkeypatch)
    assert {"train_loss", "lr", "train_step_timing in s"} <= set(trainer.progress_bar_metrics)
    assert trainer.progress_bar_metrics["lr"] > 0


@pytest.mark.slow
def test_hparams_yaml_holds_the_model_config(tiny_model, tmp_path, monkeypatch):
    _, log_dir = _fit_one_epoch(tiny_model, tmp_path, monkeypatch)
    hparams = OmegaConf.load(log_dir / "hparams.yaml")
    assert hparams.cfg.hidden == 32 and hparams.cfg.target == "tiny_model.TinyRegressionModel"


def test_trainer_flags_from_the_cli_reach_lightning(tiny_model):
    overrides = ["trainer.max_steps=6", "trainer.accumulate_grad_batches=2", "trainer.val_check_interval=0.5",
                 "trainer.gradient_clip_val=1.0", "trainer.limit_train_batches=8", "trainer.limit_val_batches=1",
                 "trainer.log_every_n_steps=3", "trainer.precision=bf16-mixed", "trainer.enable_progress_bar=false",
                 "trainer.num_sanity_val_steps=0"]
    with initialize_config_dir(config_dir=str(EXAMPLE_DIR / "conf"), version_base=None):
        cfg = compose(config_name="tiny_model", overrides=overrides)
    trainer = pl.Trainer(**cfg.trainer, enable_model_summary=False)
    assert (trainer.max_steps, trainer.accumulate_grad_batches, trainer.gradient_clip_val) == (6, 2, 1.0)
    assert (trainer.val_check_interval, trainer.limit_train_batches, trainer.log_every_n_steps) == (0.5, 8, 3)
    assert trainer.precision == "bf16-mixed" and trainer.logger is None and trainer.checkpoint_callback is None
    model = tiny_model.TinyRegressionModel(cfg=cfg.model, trainer=trainer)
    trainer.fit(model)
    assert trainer.global_step == 6  # 8 batches / 2 accumulated = 4 steps per epoch, stopped by max_steps
