"""A tiny NeMo model for trying the training runtime: a two-layer MLP fit to y = x·w + noise.

Data is synthetic (generated from `seed`) unless a dataset sets `manifest_filepath` to a JSON-lines
file of `{"x": [...], "y": ...}` records. Used by `train_tiny_model.py` and the tests.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from nemo.core.classes import ModelPT
from nemo.core.config.modelPT import ModelConfig

_TRUE_WEIGHT_SEED = 1234  # every dataset shares the same hidden weights


@dataclass
class TinyDataConfig:
    manifest_filepath: Optional[str] = None  # JSON lines {"x": [...], "y": float}; None -> synthetic
    num_samples: int = 256
    batch_size: int = 32
    shuffle: bool = False
    seed: int = 0
    num_workers: int = 0
    drop_last: bool = False


@dataclass
class TinyRegressionConfig(ModelConfig):
    """The model config as a dataclass: `OmegaConf.structured(TinyRegressionConfig())` is a valid `cfg`."""

    in_features: int = 8
    hidden: int = 32
    noise: float = 0.1
    train_ds: Optional[TinyDataConfig] = field(default_factory=lambda: TinyDataConfig(num_samples=512, shuffle=True))
    validation_ds: Optional[TinyDataConfig] = field(default_factory=lambda: TinyDataConfig(num_samples=128, seed=1))
    test_ds: Optional[TinyDataConfig] = field(default_factory=lambda: TinyDataConfig(num_samples=128, seed=2))
    optim: Optional[Any] = field(default_factory=lambda: {"name": "adam", "lr": 0.01})


def _synthetic(in_features: int, num_samples: int, seed: int, noise: float):
    weight = torch.randn(in_features, 1, generator=torch.Generator().manual_seed(_TRUE_WEIGHT_SEED))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_samples, in_features, generator=gen)
    y = x @ weight + noise * torch.randn(num_samples, 1, generator=gen)
    return x, y


def _from_manifest(path: str):
    xs: List[List[float]] = []
    ys: List[float] = []
    with open(path) as f:  # a missing file raises FileNotFoundError naming it
        for line in f:
            if line.strip():
                record = json.loads(line)
                xs.append(record["x"])
                ys.append(record["y"])
    return torch.tensor(xs, dtype=torch.float32), torch.tensor(ys, dtype=torch.float32).unsqueeze(1)


class TinyRegressionModel(ModelPT):
    """MLP regression: `in_features -> hidden -> 1`, MSE loss."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(self.cfg.in_features, self.cfg.hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(self.cfg.hidden, 1),
        )

    @classmethod
    def list_available_models(cls):
        return []

    def _loader(self, cfg: DictConfig) -> DataLoader:
        if cfg.get("manifest_filepath"):
            x, y = _from_manifest(cfg.manifest_filepath)
        else:
            x, y = _synthetic(self.cfg.in_features, cfg.num_samples, cfg.seed, self.cfg.get("noise", 0.1))
        return DataLoader(
            TensorDataset(x, y),
            batch_size=cfg.batch_size,
            shuffle=cfg.get("shuffle", False),
            num_workers=cfg.get("num_workers", 0),
            drop_last=cfg.get("drop_last", False),
        )

    def setup_training_data(self, train_data_config):
        self._train_dl = self._loader(train_data_config)

    def setup_validation_data(self, val_data_config):
        self._validation_dl = self._loader(val_data_config)

    def setup_test_data(self, test_data_config):
        self._test_dl = self._loader(test_data_config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, in_features) -> (batch, 1)
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x).float(), y)
        lr = self._optimizer.param_groups[0]["lr"]
        self.log("train_loss", loss, prog_bar=True)
        self.log("lr", lr, prog_bar=True)
        return {"loss": loss, "lr": lr}

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x, y = batch
        output = {"val_loss": torch.nn.functional.mse_loss(self(x).float(), y)}
        self.validation_step_outputs.append(output)
        return output

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x, y = batch
        output = {"test_loss": torch.nn.functional.mse_loss(self(x).float(), y)}
        self.test_step_outputs.append(output)
        return output

    def multi_validation_epoch_end(self, outputs, dataloader_idx: int = 0) -> Dict[str, Any]:
        val_loss = torch.stack([o["val_loss"] for o in outputs]).mean()
        return {"val_loss": val_loss, "log": {"val_loss": val_loss}}

    def multi_test_epoch_end(self, outputs, dataloader_idx: int = 0) -> Dict[str, Any]:
        test_loss = torch.stack([o["test_loss"] for o in outputs]).mean()
        return {"test_loss": test_loss, "log": {"test_loss": test_loss}}

    def on_validation_epoch_end(self):
        # Average the metric over processes so every rank checkpoints on the same number.
        return super().on_validation_epoch_end(sync_metrics=self.trainer.world_size > 1)
