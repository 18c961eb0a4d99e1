"""Small ModelPT subclasses used by the core tests."""

from typing import Optional

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from nemo.core import ModelPT


class Toy(ModelPT):
    """Linear regression on random data; records which data sections it set up."""

    def __init__(self, cfg: DictConfig, trainer=None):
        self.setup_calls = []
        super().__init__(cfg, trainer)
        self.layer = torch.nn.Linear(self.cfg.get("dim", 4), 1)

    def _loader(self, cfg):
        n = cfg.get("n", 16)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, self.cfg.get("dim", 4), generator=g)
        return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=cfg.get("batch_size", 4))

    def setup_training_data(self, cfg):
        self.setup_calls.append(("train", cfg))
        self._train_dl = self._loader(cfg)

    def setup_validation_data(self, cfg):
        self.setup_calls.append(("validation", cfg))
        self._validation_dl = self._loader(cfg)

    def setup_test_data(self, cfg):
        self.setup_calls.append(("test", cfg))
        self._test_dl = self._loader(cfg)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        out = {"val_loss": loss}
        if isinstance(self.validation_step_outputs[0] if self.validation_step_outputs else None, list) or (
            isinstance(self._validation_dl, list) and len(self._validation_dl) > 1
        ):
            self.validation_step_outputs[dataloader_idx].append(out)
        else:
            self.validation_step_outputs.append(out)
        return out

    def multi_validation_epoch_end(self, outputs, dataloader_idx=0):
        loss = torch.stack([o["val_loss"] for o in outputs]).mean()
        return {"val_loss": loss, "log": {"val_loss": loss, "val_metric": loss * 2}}


class Vocab(ModelPT):
    """Reads a vocabulary artifact; optional second artifact."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg, trainer)
        path = self.register_artifact("vocab_file", cfg.vocab_file)
        self.vocab = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
        self.vocab_path = path
        self.extra = self.register_artifact("extra_file", cfg.get("extra_file"), verify_src_exists=False)
        self.embed = torch.nn.Embedding(len(self.vocab), cfg.get("dim", 4))

    def setup_training_data(self, cfg):
        pass

    def setup_validation_data(self, cfg):
        pass

    def forward(self, ids):
        return self.embed(ids)


class Parent(ModelPT):
    """The seed's nested-model pattern: sub-config first, then a .nemo path, then a pretrained name."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg, trainer)
        self.child_model: Optional[Vocab]
        if cfg.get("child_model") is not None:
            self.register_nemo_submodule("child_model", "child_model", Vocab(self.cfg.child_model, trainer=trainer))
        elif cfg.get("child_model_path") is not None:
            self.register_nemo_submodule(
                "child_model", "child_model", Vocab.restore_from(self.cfg.child_model_path, trainer=trainer)
            )
        elif cfg.get("child_model_name") is not None:
            self.register_nemo_submodule(
                "child_model", "child_model", Vocab.from_pretrained(self.cfg.child_model_name, trainer=trainer)
            )
        else:
            self.child_model = None
        self.head = torch.nn.Linear(4, 2)

    def setup_training_data(self, cfg):
        pass

    def setup_validation_data(self, cfg):
        pass


def write_vocab(path, words=("<unk>", "a", "b", "c")) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")
    return str(path)
