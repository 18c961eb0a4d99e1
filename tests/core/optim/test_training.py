"""End to end: a tiny ModelPT trained by a real Lightning Trainer with Novograd + CosineAnnealing."""

import csv
import math

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from nemo.core import ModelPT
from nemo.core.optim import Novograd
from nemo.core.optim.lr_scheduler import CosineAnnealing

pl = pytest.importorskip("lightning.pytorch")


class TinyRegression(ModelPT):
    """y = x·w on 40 fixed samples; logs the LR from training_step as the seed's example does."""

    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.encoder = torch.nn.Linear(4, 8)
        self.decoder = torch.nn.Linear(8, 1)

    def setup_training_data(self, cfg):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(cfg.n, 4, generator=g)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self._train_dl = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=False)

    def setup_validation_data(self, cfg):
        pass

    def forward(self, x):
        return self.decoder(torch.tanh(self.encoder(x)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        lr = self._optimizer.param_groups[0]["lr"]
        self.log("train_loss", loss)
        self.log("lr", lr, prog_bar=True)
        return {"loss": loss, "lr": lr}


class RecordLogged(pl.Callback):
    """Reads the logged `lr` and `train_loss` back after every batch."""

    def __init__(self):
        self.lrs, self.losses = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.lrs.append(float(trainer.callback_metrics["lr"]))
        self.losses.append(float(trainer.callback_metrics["train_loss"]))


def model_cfg(**optim_overrides):
    cfg = OmegaConf.create({
        "train_ds": {"n": 40, "batch_size": 4},
        "optim": {
            "name": "novograd", "lr": 0.05, "betas": [0.8, 0.25], "weight_decay": 0.001,
            "sched": {"name": "CosineAnnealing", "max_steps": -1, "monitor": "val_loss", "reduce_on_plateau": False,
                      "warmup_steps": 5, "warmup_ratio": None, "min_lr": 1e-4},
        },
    })
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in optim_overrides.items()]))


def make_trainer(tmp_path, callbacks, **kwargs):
    from lightning.pytorch.loggers import CSVLogger

    kwargs.setdefault("max_epochs", 3)
    kwargs.setdefault("enable_checkpointing", False)
    return pl.Trainer(
        accelerator="cpu", devices=1, logger=CSVLogger(tmp_path, name="run"), log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
        **kwargs,
    )


def expected_cosine(step, warmup=5, max_steps=30, base=0.05, min_lr=1e-4):
    if step <= warmup:
        return base * (step + 1) / (warmup + 1)
    if step > max_steps:
        return min_lr
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (max_steps - warmup)))


@pytest.mark.slow
def test_novograd_cosine_schedule_through_lightning(tmp_path):
    torch.manual_seed(0)
    record = RecordLogged()
    monitor = pl.callbacks.LearningRateMonitor(logging_interval="step")
    trainer = make_trainer(tmp_path, [record, monitor])
    model = TinyRegression(model_cfg(), trainer=trainer)
    trainer.fit(model)

    assert isinstance(model._optimizer, Novograd) and isinstance(model._scheduler["scheduler"], CosineAnnealing)
    assert model._scheduler["scheduler"].max_steps == 30  # max_steps: -1 -> 3 epochs x 10 batches
    assert trainer.global_step == 30
    expected = [expected_cosine(k) for k in range(30)]
    assert record.lrs == pytest.approx(expected, rel=1e-6)  # the LR logged in training_step at each step
    # LearningRateMonitor's own record of the same schedule, read back from the CSV log.
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as f:
        logged = [float(row["lr-Novograd"]) for row in csv.DictReader(f) if row.get("lr-Novograd")]
    assert logged == pytest.approx(expected, rel=1e-6)
    assert sum(record.losses[-5:]) < 0.5 * sum(record.losses[:5])


@pytest.mark.slow
def test_seed_cli_override_on_a_model_config(tmp_path):
    """`model.optim.name=adam model.optim.lr=.0004 model.optim.betas=[.8,.5]` keeps the schedule."""
    cfg = model_cfg(**{"optim.name": "adam", "optim.lr": 0.0004, "optim.betas": "[.8,.5]"})
    record = RecordLogged()
    trainer = make_trainer(tmp_path, [record], max_epochs=1)
    model = TinyRegression(cfg, trainer=trainer)
    trainer.fit(model)
    group = model._optimizer.param_groups[0]
    assert type(model._optimizer) is torch.optim.Adam
    assert (group["initial_lr"], list(group["betas"]), group["weight_decay"]) == (0.0004, [0.8, 0.5], 0.001)
    assert model._scheduler["scheduler"].max_steps == 10
    assert record.lrs == pytest.approx([expected_cosine(k, max_steps=10, base=0.0004) for k in range(10)], rel=1e-6)


@pytest.mark.slow
def test_seed_spelling_optim_equals_adam_then_fit(tmp_path):
    """`model.optim=adam`: switching by bare name before fit() is what configure_optimizers then rebuilds."""
    record = RecordLogged()
    trainer = make_trainer(tmp_path, [record], max_epochs=1)
    model = TinyRegression(model_cfg(), trainer=trainer)
    model.setup_optimization("adam")
    trainer.fit(model)
    assert type(model._optimizer) is torch.optim.Adam and model.cfg.optim.name == "adam"
    assert record.lrs == pytest.approx([expected_cosine(k, max_steps=10) for k in range(10)], rel=1e-6)


@pytest.mark.slow
def test_max_steps_from_lightning_when_data_is_passed_to_fit(tmp_path):
    """No `_train_dl` on the model: the horizon comes from Lightning's own count of optimizer steps."""
    cfg = model_cfg()
    del cfg["train_ds"]
    trainer = make_trainer(tmp_path, [], max_epochs=2, accumulate_grad_batches=2)
    model = TinyRegression(cfg, trainer=trainer)
    x = torch.randn(24, 4)
    trainer.fit(model, train_dataloaders=DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4))
    assert model._scheduler["scheduler"].max_steps == 6  # 6 batches / 2 accumulated x 2 epochs
    assert trainer.global_step == 6


@pytest.mark.slow
def test_resume_from_checkpoint_continues_the_schedule(tmp_path):
    """Optimizer and scheduler state survive a Lightning checkpoint (loaded with weights_only)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1, filename="{epoch}")
    first = make_trainer(tmp_path, [ckpt], enable_checkpointing=True)
    first.fit(TinyRegression(model_cfg(), trainer=first))

    record = RecordLogged()
    resumed = make_trainer(tmp_path, [record], enable_checkpointing=True)
    model = TinyRegression(model_cfg(), trainer=resumed)
    resumed.fit(model, ckpt_path=str(tmp_path / "ckpt" / "epoch=0.ckpt"))
    assert resumed.global_step == 30
    assert record.lrs == pytest.approx([expected_cosine(k) for k in range(10, 30)], rel=1e-6)
    assert model._optimizer.state[model.decoder.weight]["step"] == 30
