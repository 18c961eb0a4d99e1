"""ModelPT construction, config/hparams sync, trainer handling and data setup (spec core §1)."""

from dataclasses import dataclass, field

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf, open_dict

from nemo.core import ConfigError, ModelPT
from nemo.package_info import __version__
from tests.core.toy_models import Toy


def make(**extra):
    return Toy(OmegaConf.create({"dim": 4, **extra}))


def test_target_and_version_appended_last():
    m = make()
    assert list(m.cfg.keys())[-2:] == ["target", "nemo_version"]
    assert m.cfg.target == "tests.core.toy_models.Toy"
    assert m.cfg.nemo_version == __version__


def test_existing_target_and_version_kept():
    m = make(target="x.Y", nemo_version="1.2.3")
    assert (m.cfg.target, m.cfg.nemo_version) == ("x.Y", "1.2.3")


def test_cfg_struct_mode_and_interpolations_frozen():
    m = Toy(OmegaConf.create({"dim": 4, "a": 2, "b": "${a}"}))
    assert m.cfg.b == 2
    with pytest.raises(Exception):
        m.cfg.new_key = 1
    with open_dict(m.cfg):
        m.cfg.new_key = 1
    assert m.cfg.new_key == 1


def test_hparams_follow_inplace_edits_and_setter():
    m = make()
    m.cfg.dim = 7
    assert m.hparams["cfg"]["dim"] == 7
    m.cfg = OmegaConf.create({"dim": 3, "target": "t", "nemo_version": "v"})
    assert m.hparams["cfg"]["dim"] == 3


def test_dataclass_and_dict_configs_accepted():
    @dataclass
    class Cfg:
        dim: int = 5
        tags: list = field(default_factory=lambda: ["a"])

    assert Toy(Cfg()).cfg.dim == 5
    assert Toy({"dim": 6}).cfg.dim == 6


def test_bad_cfg_and_model_key_rejected():
    with pytest.raises(ConfigError):
        Toy(42)
    with pytest.raises(ConfigError, match="collision"):
        Toy(OmegaConf.create({"model": {"dim": 4}}))


def test_trainer_type_checked_and_world_size():
    with pytest.raises(ValueError):
        Toy(OmegaConf.create({"dim": 4}), trainer="not a trainer")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    m = Toy(OmegaConf.create({"dim": 4}), trainer=trainer)
    assert m.trainer is trainer and m.world_size == 1
    assert make().trainer is None


def test_legacy_config_rewritten():
    m = Toy(OmegaConf.create({"dim": 4, "enc": {"cls": "nemo.X", "params": {"k": 1}}}))
    assert m.cfg.enc._target_ == "nemo.X" and m.cfg.enc.k == 1 and "params" not in m.cfg.enc


def test_data_set_up_from_config_sections():
    m = make(train_ds={"n": 8}, validation_ds={"n": 4}, test_ds={"n": 4})
    kinds = [k for k, _ in m.setup_calls]
    assert kinds == ["train", "validation", "test"]
    assert m.train_dataloader() is not None and m.val_dataloader() and m.test_dataloader()


class _VocabFirst(Toy):
    """Reads a vocabulary artifact in `setup_before_data`; its loaders are sized by it."""

    def setup_before_data(self):
        super().setup_before_data()
        self.vocab = open(self.register_artifact("vocab_file", self.cfg.vocab_file), encoding="utf-8").read().split()
        with open_dict(self.cfg):
            self.cfg.vocab_size = len(self.vocab)

    def _loader(self, cfg):
        return super()._loader({**cfg, "n": len(self.vocab)})


def test_setup_before_data_runs_before_loaders_and_on_restore(tmp_path):
    (tmp_path / "vocab.txt").write_text("a b c d e\n")
    m = _VocabFirst(OmegaConf.create({"dim": 4, "vocab_file": str(tmp_path / "vocab.txt"), "train_ds": {"n": 99}}))
    assert len(m.train_dataloader().dataset) == 5 and [k for k, _ in m.setup_calls] == ["train"]
    assert m.hparams["cfg"]["vocab_size"] == 5 and m.hparams_initial["cfg"]["vocab_size"] == 5
    m.save_to(str(tmp_path / "m.nemo"))
    (tmp_path / "vocab.txt").unlink()
    restored = _VocabFirst.restore_from(str(tmp_path / "m.nemo"))
    assert restored.vocab == ["a", "b", "c", "d", "e"] and restored.setup_calls == []


def test_defer_setup_and_lightning_setup_hook():
    m = make(train_ds={"n": 8, "defer_setup": True})
    assert m.setup_calls == [] and m.train_dataloader() is None
    m.setup("fit")
    assert m.train_dataloader() is not None


def test_missing_sections_give_empty_loaders():
    m = make()
    assert m.val_dataloader() == [] and m.test_dataloader() == []


def test_test_ds_without_implementation_fails():
    class NoTest(Toy):
        setup_test_data = ModelPT.setup_test_data

    with pytest.raises(NotImplementedError):
        NoTest(OmegaConf.create({"dim": 4, "test_ds": {"n": 2}}))


def test_abstract_methods_enforced():
    class Incomplete(ModelPT):
        pass

    with pytest.raises(TypeError):
        Incomplete(OmegaConf.create({}))


def test_multiple_validation_loaders_named_from_manifests(tmp_path):
    a = tmp_path / "dev-clean_manifest.json"
    b = tmp_path / "dev-other.json"
    a.write_text("")
    b.write_text("")
    m = make(validation_ds={"manifest_filepath": [str(a), str(b)], "n": 4})
    assert isinstance(m._validation_dl, list) and len(m._validation_dl) == 2
    assert m._validation_names == ["dev_clean_", "dev_other_"]
    assert m.cfg.validation_ds.manifest_filepath == [str(a), str(b)]


def test_validation_epoch_end_metric_names(tmp_path):
    a, b = tmp_path / "dev-clean.json", tmp_path / "dev-other.json"
    a.write_text("")
    b.write_text("")
    m = make(validation_ds={"manifest_filepath": [str(a), str(b)], "n": 4})
    logged = {}
    m.log_dict = lambda d, **kw: logged.update(d)
    m.validation_step_outputs[0].append({"val_loss": torch.tensor(1.0)})
    m.validation_step_outputs[1].append({"val_loss": torch.tensor(3.0)})
    result = m.on_validation_epoch_end()
    assert set(logged) == {"val_loss", "val_metric", "dev_clean_val_loss", "dev_clean_val_metric", "dev_other_val_loss", "dev_other_val_metric"}
    assert logged["val_loss"] == 1.0 and logged["dev_other_val_loss"] == 3.0
    assert result["val_loss"] == 1.0


def test_single_loader_epoch_end_logs_plain_names():
    m = make(validation_ds={"n": 4})
    logged = {}
    m.log_dict = lambda d, **kw: logged.update(d)
    m.validation_step_outputs.append({"val_loss": torch.tensor(2.0)})
    m.on_validation_epoch_end()
    assert set(logged) == {"val_loss", "val_metric"}


def test_num_weights_counts_trainable_only_and_summary():
    m = make()
    assert m.num_weights == 5
    m.layer.bias.requires_grad_(False)
    assert m.num_weights == 4
    assert "layer" in str(m.summarize())


def test_is_being_restored_false_for_new_model():
    m = make()
    assert m.is_being_restored is False and ModelPT._is_model_being_restored() is False


def test_list_available_models_from_catalogue(tmp_path, monkeypatch):
    cat = tmp_path / "cat.json"
    cat.write_text('[{"class": "tests.core.toy_models.Toy", "name": "toy-1", "location": "https://x/toy.nemo", "description": "d"}]')
    monkeypatch.setenv("NEMO_PRETRAINED_CATALOGUE", str(cat))
    infos = Toy.list_available_models()
    assert [i.pretrained_model_name for i in infos] == ["toy-1"] and infos[0].class_ is Toy
    assert Toy.get_available_model_names() == ["toy-1"]


def test_trains_with_lightning_trainer():
    m = make(train_ds={"n": 32}, optim={"name": "sgd", "lr": 0.05})
    trainer = pl.Trainer(accelerator="cpu", max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    before = torch.nn.functional.mse_loss(m(torch.ones(2, 4)), torch.full((2, 1), 4.0)).item()
    trainer.fit(m)
    after = torch.nn.functional.mse_loss(m(torch.ones(2, 4)), torch.full((2, 1), 4.0)).item()
    assert after < before


def test_manifest_without_identifying_name_gets_default_prefix(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "manifest.json").write_text("")
    (b / "manifest.json").write_text("")
    single = make(validation_ds={"manifest_filepath": str(a / "manifest.json"), "n": 4})
    assert single._validation_names == ["val_0_"]
    several = make(validation_ds={"manifest_filepath": [str(a / "manifest.json"), str(b / "manifest.json")], "n": 4})
    assert several._validation_names == ["val_0_", "val_1_"]
