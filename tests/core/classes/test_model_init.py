"""Initialising from other models' weights (`init_from_*`), `extract_state_dict_from` and `freeze_updates`
(spec core §1.9, §1.2)."""

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from nemo.core import ArchiveNotFoundError, ConfigError, ModelPT, WeightsMismatchError


class TwoPart(ModelPT):
    """An encoder and a decoder whose output size comes from the config (like a vocabulary)."""

    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
        self.decoder = torch.nn.Linear(4, self.cfg.get("out", 2))

    def setup_training_data(self, cfg):
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
        self._train_dl = DataLoader(TensorDataset(x, x[:, :1]), batch_size=4)

    def setup_validation_data(self, cfg):
        pass

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return (self(x)[:, :1] - y).pow(2).mean()


def model(seed, **cfg):
    torch.manual_seed(seed)
    return TwoPart(OmegaConf.create({"out": 2, **cfg}))


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture()
def source(tmp_path):
    src = model(1)
    path = str(tmp_path / "source.nemo")
    src.save_to(path)
    return src, path


def test_init_from_nemo_model_path_loads_every_weight(source):
    src, path = source
    dst = model(2)
    assert not same(src, dst)
    dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": path}))
    assert same(src, dst)


def test_include_exclude_keep_the_new_head_and_misshaped_weights_are_named(source):
    src, path = source
    dst = model(2, out=5)  # another vocabulary: the decoder cannot be taken over
    head = dst.decoder.weight.clone()
    with pytest.raises(WeightsMismatchError, match="decoder.weight.*exclude"):
        dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": path}))
    cfg = OmegaConf.create({"init_from_nemo_model": {"asr": {"path": path, "exclude": ["decoder"]}}})
    dst.maybe_init_from_pretrained_checkpoint(cfg)
    assert torch.equal(dst.encoder[0].weight, src.encoder[0].weight)
    assert torch.equal(dst.decoder.weight, head)
    only_bias = model(3)
    cfg = OmegaConf.create({"init_from_nemo_model": {"a": {"path": path, "include": ["bias"]}}})
    only_bias.maybe_init_from_pretrained_checkpoint(cfg)
    assert torch.equal(only_bias.decoder.bias, src.decoder.bias)
    assert not torch.equal(only_bias.decoder.weight, src.decoder.weight)


def test_init_from_ptl_ckpt_and_pretrained_local_path(source, tmp_path):
    src, path = source
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trained = model(4, train_ds={}, optim={"name": "sgd", "lr": 0.1})
    trainer.fit(trained)
    ckpt = str(tmp_path / "trained.ckpt")
    trainer.save_checkpoint(ckpt)
    dst = model(5)
    dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_ptl_ckpt": ckpt}))
    assert same(trained, dst)
    dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_pretrained_model": path}))
    assert same(src, dst)


def test_init_argument_errors(source, tmp_path):
    _, path = source
    dst = model(2)
    with pytest.raises(ValueError, match="more than one"):
        dst.maybe_init_from_pretrained_checkpoint(
            OmegaConf.create({"init_from_nemo_model": path, "init_from_ptl_ckpt": path}))
    with pytest.raises(TypeError, match="init_from_nemo_model"):
        dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": 3}))
    with pytest.raises(ConfigError, match="init_from_nemo_model.x"):
        dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": {"x": {"exclude": []}}}))
    with pytest.raises(ArchiveNotFoundError, match="missing.nemo"):
        dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": str(tmp_path / "missing.nemo")}))
    dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"other": 1}))  # nothing to do


def test_init_is_skipped_when_resuming(source):
    src, path = source
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    trainer.ckpt_path = path  # what exp_manager's resume sets; the checkpoint's weights win anyway
    dst = model(2)
    dst.set_trainer(trainer)
    dst.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": path}))
    assert not same(src, dst)


@pytest.mark.parametrize("split", [False, True])
def test_extract_state_dict_from(source, tmp_path, split):
    src, path = source
    out = tmp_path / "weights"
    full = ModelPT.extract_state_dict_from(path, str(out), split_by_module=split)
    assert list(full) == list(src.state_dict())
    if split:
        assert sorted(p.name for p in out.iterdir()) == ["decoder.ckpt", "encoder.ckpt"]
        dec = torch.load(out / "decoder.ckpt", weights_only=True)
        assert set(dec) == {"weight", "bias"} and torch.equal(dec["weight"], src.decoder.weight)
    else:
        saved = torch.load(out / "model_weights.ckpt", weights_only=True)
        assert all(torch.equal(saved[k], v) for k, v in src.state_dict().items())
    with pytest.raises(ArchiveNotFoundError):
        ModelPT.extract_state_dict_from(str(tmp_path / "nope.nemo"), str(out))


def test_freeze_updates_schedule_in_a_real_trainer():
    """encoder frozen for updates 1-2 (`2`), decoder for updates 3 onwards (`[3, -1]`)."""
    net = model(6, train_ds={}, optim={"name": "sgd", "lr": 0.1},
                freeze_updates={"enabled": True, "modules": {"encoder": 2, "decoder": [3, -1]}})
    history = []

    class Watch(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            history.append((pl_module.encoder[0].weight.clone(), pl_module.decoder.weight.clone(),
                            pl_module.encoder.training))

    start = (net.encoder[0].weight.clone(), net.decoder.weight.clone())
    trainer = pl.Trainer(accelerator="cpu", max_steps=4, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Watch()])
    trainer.fit(net)
    enc, dec = [start[0]] + [h[0] for h in history], [start[1]] + [h[1] for h in history]
    assert [torch.equal(enc[i], enc[i + 1]) for i in range(4)] == [True, True, False, False]
    assert [torch.equal(dec[i], dec[i + 1]) for i in range(4)] == [False, False, True, True]
    assert all(h[2] for h in history)  # frozen modules stay in training mode (dropout, batch norm)
    assert net.encoder[0].weight.requires_grad and not net.decoder.weight.requires_grad


def test_freeze_updates_unknown_module_is_named():
    net = model(7, train_ds={}, optim={"name": "sgd", "lr": 0.1},
                freeze_updates={"enabled": True, "modules": {"joint": 2}})
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match="freeze_updates.modules.joint"):
        trainer.fit(net)
