"""Lightning `.ckpt` files: load_from_checkpoint works without artifacts, and says to use
restore_from when artifacts are needed (spec core §2.10)."""

import os

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import ArtifactError
from tests.core.toy_models import Toy, Vocab, write_vocab


class TrainableVocab(Vocab):
    def training_step(self, batch, batch_idx):
        return self(batch).pow(2).mean()


def fit_and_checkpoint(model, tmp_path):
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, train_dataloaders=model._train_dl or Toy(OmegaConf.create({"dim": 4, "train_ds": {"n": 8}}))._train_dl)
    path = str(tmp_path / "model.ckpt")
    trainer.save_checkpoint(path)
    return path


def test_load_from_checkpoint_without_artifacts(tmp_path):
    model = Toy(OmegaConf.create({"dim": 4, "train_ds": {"n": 8}, "optim": {"name": "sgd", "lr": 0.1}}))
    path = fit_and_checkpoint(model, tmp_path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["hyper_parameters"]["cfg"]["dim"] == 4
    loaded = Toy.load_from_checkpoint(path)
    assert torch.equal(loaded.layer.weight, model.layer.weight)
    assert loaded.setup_calls == []


def test_load_from_checkpoint_with_missing_artifact_points_to_restore_from(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    model = TrainableVocab(OmegaConf.create({"vocab_file": vocab, "optim": {"name": "sgd", "lr": 0.1}}))

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.tensor(i % 4)

    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(Data(), batch_size=2))
    path = str(tmp_path / "vocab.ckpt")
    trainer.save_checkpoint(path)
    assert TrainableVocab.load_from_checkpoint(path).vocab == model.vocab
    os.remove(vocab)
    with pytest.raises(ArtifactError, match="restore_from"):
        TrainableVocab.load_from_checkpoint(path)
