"""setup_optimization: cfg.optim -> (optimizer, Lightning scheduler dict), with a stand-in model."""

import warnings
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch.utils.data import DataLoader, TensorDataset

from nemo.core.config.optimizers import NovogradParams
from nemo.core.optim import Novograd
from nemo.core.optim.lr_scheduler import CosineAnnealing
from nemo.core.optim.setup import setup_optimization

# The seed's optimization block, with its `min_lr: 1e-9:` typo fixed.
SEED_OPTIM = """
optim:
    name: novograd
    lr: 0.01

    # optimizer arguments
    betas: [0.8, 0.25]
    weight_decay: 0.001

    # scheduler setup
    sched:
        name: CosineAnnealing

        # Optional arguments
        max_steps: -1 # computed at runtime or explicitly set here
        monitor: val_loss
        reduce_on_plateau: false

        # scheduler config override
        warmup_steps: 1000
        warmup_ratio: null
        min_lr: 1e-9
"""


class Stand(torch.nn.Module):
    """What setup_optimization reads from a model: cfg, trainer, _train_dl and parameters."""

    def __init__(self, cfg, trainer=None, train_dl=None):
        super().__init__()
        self.encoder = torch.nn.Linear(3, 3)
        self.encoder2 = torch.nn.Linear(3, 3)
        self.decoder = torch.nn.Linear(3, 1)
        self.cfg = OmegaConf.create(cfg) if isinstance(cfg, (dict, str)) else cfg
        OmegaConf.set_struct(self.cfg, True)
        self.trainer = trainer
        self._train_dl = train_dl


def fake_trainer(max_steps=-1, max_epochs=1, accumulate_grad_batches=1, limit_train_batches=1.0, devices=1, nodes=1):
    return SimpleNamespace(max_steps=max_steps, max_epochs=max_epochs, accumulate_grad_batches=accumulate_grad_batches,
                           limit_train_batches=limit_train_batches, num_devices=devices, num_nodes=nodes)


def loader(n=37, batch_size=4, drop_last=False):
    return DataLoader(TensorDataset(torch.zeros(n, 3)), batch_size=batch_size, drop_last=drop_last)


def setup(optim, **model_kwargs):
    return setup_optimization(Stand({"optim": optim}, **model_kwargs))


# ------------------------------------------------------------------ optimizer selection (spec §7.6 examples)


def test_lr_only_defaults_to_adam():
    opt, sched = setup({"lr": 0.1})
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["lr"] == 0.1 and sched is None


def test_named_optimizer_with_args():
    opt, _ = setup({"name": "novograd", "lr": 0.01, "betas": [0.8, 0.5]})
    assert type(opt) is Novograd and list(opt.param_groups[0]["betas"]) == [0.8, 0.5]


def test_target_optimizer_is_allow_listed():
    from nemo.core.classes.exceptions import UnsafeTargetError

    opt, _ = setup({"_target_": "torch.optim.AdamW", "lr": 0.1, "weight_decay": 0.01})
    assert type(opt) is torch.optim.AdamW and opt.param_groups[0]["weight_decay"] == 0.01
    with pytest.raises(UnsafeTargetError):
        setup({"_target_": "collections.Counter", "lr": 0.1})


def test_legacy_args_auto_route():
    opt, _ = setup({"name": "adam", "lr": 0.1, "args": {"name": "auto", "params": {"weight_decay": 0.5}}})
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["weight_decay"] == 0.5
    assert opt.param_groups[0]["lr"] == 0.1


def test_params_dataclass_as_config():
    model = Stand({"optim": {"lr": 1.0}})
    opt, _ = setup_optimization(model, NovogradParams(lr=0.2, betas=(0.8, 0.5)))
    assert type(opt) is Novograd and opt.param_groups[0]["lr"] == 0.2
    assert model.cfg.optim.name == "novograd"  # persisted for configure_optimizers at fit()


def test_optim_kwargs_override_config():
    model = Stand({"optim": {"name": "sgd", "lr": 0.1, "momentum": 0.1}})
    opt, _ = setup_optimization(model, optim_kwargs={"momentum": 0.7})
    assert opt.param_groups[0]["momentum"] == 0.7


def test_no_optim_config_gives_nothing():
    assert setup_optimization(Stand({"other": 1})) == (None, None)


def test_quartznet_golden_optim_section():
    """The optim block NeMo saved in a QuartzNet .nemo (no max_steps; trainer supplies it)."""
    optim = {"name": "novograd", "lr": 0.01, "betas": [0.8, 0.5], "weight_decay": 0.001,
             "sched": {"name": "CosineAnnealing", "warmup_steps": 5, "min_lr": 1.0e-05}}
    opt, sched = setup(optim, trainer=fake_trainer(max_steps=100))
    assert type(opt) is Novograd and sched["scheduler"].max_steps == 100


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "optim,match",
    [
        ({"name": "adamm", "lr": 0.1}, r"Cannot resolve optimizer 'adamm'. Available optimizers are: \['sgd'"),
        ({"name": "adam"}, r"optim.lr is required"),
        ({"name": "adam", "lr": "???"}, r"optim.lr is required"),
        ({"name": "adam", "lr": 0.1, "betass": [0.9, 0.9]}, r"does not accept argument\(s\) \['betass'\]\. "
                                                              r"Accepted arguments: \[.*'betas'"),
        ({"name": "adam", "lr": 0.1, "sched": {"name": "Cosine", "max_steps": 5}},
         r"Cannot resolve scheduler 'Cosine'. Available schedulers are: \['WarmupPolicy'"),
        ({"name": "adam", "lr": 0.1, "sched": {"max_steps": 5}}, r"optim.sched needs a `name`"),
        ({"name": "adam", "lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": 5, "warmup_stepz": 1}},
         r"Scheduler 'CosineAnnealing' .* does not accept argument\(s\) \['warmup_stepz'\]"),
        ({"name": "adam", "lr": 0.1, "sched": {"name": "CyclicLR", "max_steps": 5}},
         r"needs argument\(s\) \['base_lr', 'max_lr'\]"),
        ({"name": "adam", "lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": -5}}, r"positive integer"),
        ({"name": "adam", "lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": 5, "interval": "batch"}},
         r"interval must be 'step' or 'epoch'"),
    ],
)
def test_clear_errors_at_setup(optim, match):
    with pytest.raises(ValueError, match=match):
        setup(optim)


def test_without_trainer_a_schedule_needing_max_steps_waits_for_fit():
    model = Stand({"optim": {"name": "adam", "lr": 0.1, "sched": {"name": "CosineAnnealing"}}})
    opt, sched = setup_optimization(model)
    assert type(opt) is torch.optim.Adam and sched is None
    from nemo.core.optim.lr_scheduler import prepare_lr_scheduler

    with pytest.raises(ValueError, match="needs max_steps: .*there is no trainer"):
        prepare_lr_scheduler(opt, {"name": "CosineAnnealing"})


def test_failed_setup_does_not_change_the_model_config():
    model = Stand({"optim": {"name": "sgd", "lr": 0.1}})
    with pytest.raises(ValueError):
        setup_optimization(model, {"name": "adamm", "lr": 0.1})
    assert OmegaConf.to_container(model.cfg.optim) == {"name": "sgd", "lr": 0.1}


# ------------------------------------------------------------------ scheduler dict for Lightning


def test_seed_yaml_builds_cosine_with_lightning_dict():
    cfg = OmegaConf.create(SEED_OPTIM)
    model = Stand(cfg, trainer=fake_trainer(max_steps=5000))
    opt, sched = setup_optimization(model)
    assert type(opt) is Novograd and list(opt.param_groups[0]["betas"]) == [0.8, 0.25]
    assert opt.param_groups[0]["weight_decay"] == 0.001
    s = sched["scheduler"]
    assert type(s) is CosineAnnealing and (s.max_steps, s.warmup_steps, s.min_lr) == (5000, 1000, 1e-9)
    assert {k: v for k, v in sched.items() if k != "scheduler"} == {
        "interval": "step", "frequency": 1, "monitor": "val_loss", "reduce_on_plateau": False}
    # Lightning 2 accepts the dict as is (no "unsupported keys" warning).
    from lightning.pytorch.core.optimizer import _configure_schedulers_automatic_opt

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (config,) = _configure_schedulers_automatic_opt([sched], None)
    assert config.interval == "step" and config.monitor == "val_loss"
    # The runtime max_steps is not written back into the model config.
    assert model.cfg.optim.sched.max_steps == -1 and "t_max_epochs" not in model.cfg.optim.sched


def test_interval_frequency_monitor_are_taken_from_config():
    _, sched = setup({"lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": 10, "interval": "epoch",
                                          "frequency": 2}})
    assert (sched["interval"], sched["frequency"], sched["monitor"]) == ("epoch", 2, "loss")


def test_plateau_and_epoch_schedulers():
    _, sched = setup({"lr": 0.1, "sched": {"name": "ReduceLROnPlateau", "monitor": "val_loss", "patience": 2}})
    assert sched["reduce_on_plateau"] is True and sched["interval"] == "epoch" and sched["monitor"] == "val_loss"
    _, sched = setup({"lr": 0.1, "sched": {"name": "ExponentialLR", "gamma": 0.5}})
    assert sched["interval"] == "epoch" and sched["reduce_on_plateau"] is False
    _, sched = setup({"lr": 0.1, "sched": {"name": "StepLR", "step_size": 3}})  # no max_steps needed
    assert sched["interval"] == "step" and sched["scheduler"].step_size == 3


def test_reduce_on_plateau_key_is_checked():
    with pytest.raises(ValueError, match="is true but 'CosineAnnealing' is not a plateau scheduler"):
        setup({"lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": 5, "reduce_on_plateau": True}})
    with pytest.raises(ValueError, match="is false but 'ReduceLROnPlateau' must be stepped with a metric"):
        setup({"lr": 0.1, "sched": {"name": "ReduceLROnPlateau", "reduce_on_plateau": False}})


def test_scheduler_params_routes():
    _, sched = setup({"lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": 20,
                                          "args": {"name": "auto", "params": {"warmup_steps": 4}}}})
    assert (sched["scheduler"].warmup_steps, sched["scheduler"].max_steps) == (4, 20)
    _, sched = setup({"lr": 0.1, "sched": {"max_steps": 8, "_target_": "nemo.core.config.schedulers.CosineAnnealingParams",
                                          "min_lr": 0.01}})
    assert type(sched["scheduler"]) is CosineAnnealing and sched["scheduler"].min_lr == 0.01
    # ReduceLROnPlateauParams carries `verbose`, which torch no longer takes: dropped, not a crash.
    _, sched = setup({"lr": 0.1, "sched": {"name": "ReduceLROnPlateau", "args": {"name": "auto"}}})
    assert sched["reduce_on_plateau"] is True


# ------------------------------------------------------------------ max_steps from the trainer


@pytest.mark.parametrize(
    "trainer,dl,expected",
    [
        (fake_trainer(max_steps=50), loader(), 50),
        (fake_trainer(max_epochs=3, accumulate_grad_batches=2, limit_train_batches=0.5), loader(drop_last=True), 6),
        (fake_trainer(max_epochs=2), loader(), 20),
        (fake_trainer(max_epochs=2, devices=2, nodes=2), loader(), 6),
        (fake_trainer(max_epochs=2, limit_train_batches=3), loader(), 6),
        (fake_trainer(max_epochs=1, accumulate_grad_batches=3), loader(), 4),
    ],
)
def test_max_steps_minus_one_is_computed(trainer, dl, expected):
    _, sched = setup({"lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": -1}}, trainer=trainer, train_dl=dl)
    assert sched["scheduler"].max_steps == expected


def test_absent_max_steps_is_computed_and_explicit_value_wins():
    sched_cfg = {"name": "WarmupAnnealing", "warmup_ratio": 0.1}
    _, sched = setup({"lr": 0.1, "sched": sched_cfg}, trainer=fake_trainer(max_epochs=4), train_dl=loader(n=40))
    assert sched["scheduler"].max_steps == 40 and sched["scheduler"].warmup_steps == 4
    _, sched = setup({"lr": 0.1, "sched": {**sched_cfg, "max_steps": 30}}, trainer=fake_trainer(max_steps=100))
    assert sched["scheduler"].max_steps == 30


def test_max_steps_with_a_real_lightning_trainer():
    import lightning.pytorch as pl

    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_train_batches=0.5)
    _, sched = setup({"lr": 0.1, "sched": {"name": "CosineAnnealing", "max_steps": -1}}, trainer=trainer,
                     train_dl=loader())
    assert sched["scheduler"].max_steps == 10  # ceil(37/4)=10 batches, half of them, two epochs


@pytest.mark.parametrize(
    "trainer,dl,match",
    [
        (fake_trainer(max_epochs=-1), loader(), "unbounded training"),
        (fake_trainer(max_epochs=2), None, "no train dataloader"),
        (fake_trainer(accumulate_grad_batches=1.5), loader(), "integer number of batches"),
    ],
)
def test_max_steps_not_computable_is_an_error(trainer, dl, match):
    with pytest.raises(ValueError, match=match):
        setup({"lr": 0.1, "sched": {"name": "CosineAnnealing"}}, trainer=trainer, train_dl=dl)


# ------------------------------------------------------------------ the seed's CLI


def cli(cfg, *overrides):
    """Apply Hydra-style `key=value` overrides the way the runner merges them into the model config."""
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))


def test_cli_switch_by_optim_name_keeps_sched():
    cfg = cli(OmegaConf.create(SEED_OPTIM), "optim.name=adam", "optim.lr=.0004", "optim.betas=[.8,.5]")
    opt, sched = setup_optimization(Stand(cfg, trainer=fake_trainer(max_steps=3000)))
    assert type(opt) is torch.optim.Adam
    group = opt.param_groups[0]
    assert (group["initial_lr"], list(group["betas"]), group["weight_decay"]) == (0.0004, [0.8, 0.5], 0.001)
    assert type(sched["scheduler"]) is CosineAnnealing and sched["scheduler"].max_steps == 3000


def test_seed_spelling_optim_equals_name():
    """`model.optim=adam` hands setup a bare name: lr and sched are kept, novograd's own arguments are not."""
    model = Stand(OmegaConf.create(SEED_OPTIM), trainer=fake_trainer(max_steps=3000))
    opt, sched = setup_optimization(model, "adam")
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["initial_lr"] == 0.01
    assert tuple(opt.param_groups[0]["betas"]) == (0.9, 0.999) and opt.param_groups[0]["weight_decay"] == 0
    assert type(sched["scheduler"]) is CosineAnnealing
    assert model.cfg.optim.name == "adam" and model.cfg.optim.sched.name == "CosineAnnealing"
    # The follow-up overrides then apply to the persisted section, as in `model.optim.lr=.0004 model.optim.betas=...`.
    with open_dict(model.cfg):  # Hydra applies overrides before the config is locked
        model.cfg = cli(model.cfg, "optim.lr=.0004", "optim.betas=[.8,.5]")
    opt, _ = setup_optimization(model)
    assert opt.param_groups[0]["initial_lr"] == 0.0004 and list(opt.param_groups[0]["betas"]) == [0.8, 0.5]


def test_name_only_mapping_and_string_optim_section():
    model = Stand(OmegaConf.create(SEED_OPTIM), trainer=fake_trainer(max_steps=3000))
    opt, sched = setup_optimization(model, {"name": "sgd"})
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["initial_lr"] == 0.01 and sched is not None
    # A config whose optim section became the bare string (Hydra's reading of `model.optim=adam`).
    opt, sched = setup_optimization(Stand({"optim": "sgd"}), optim_kwargs={"lr": 0.3})
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["lr"] == 0.3 and sched is None
    with pytest.raises(ValueError, match="optim.lr is required"):
        setup_optimization(Stand({"optim": "adam"}))


# ------------------------------------------------------------------ parameter groups


def test_optim_param_groups_inherit_top_level_options():
    model = Stand({"optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
                   "optim_param_groups": {"encoder": {"lr": 1e-3}, "decoder": {"lr": 1e-2, "momentum": 0.5}}})
    opt, _ = setup_optimization(model)
    assert [(g["lr"], g["momentum"]) for g in opt.param_groups] == [(0.1, 0.9), (0.001, 0.9), (0.01, 0.5)]
    assert opt.param_groups[0]["params"] == list(model.encoder2.parameters())  # `encoder` is not a prefix of it


def test_optim_param_groups_errors():
    with pytest.raises(ValueError, match="'nope' not found in model"):
        setup_optimization(Stand({"optim": {"lr": 0.1}, "optim_param_groups": {"nope": {"lr": 1}}}))
    model = Stand({"optim": {"lr": 0.1}, "optim_param_groups": {"flag": {"lr": 1}}})
    model.flag = 3
    with pytest.raises(ValueError, match="'flag' does not have parameters"):
        setup_optimization(model)


def test_switch_optimizer_helper_for_the_runner():
    from nemo.core.optim.setup import switch_optimizer

    section = OmegaConf.create(SEED_OPTIM).optim
    switched = switch_optimizer(section, "adam")
    assert list(switched) == ["name", "lr", "sched"] and switched["lr"] == 0.01
    assert switched["sched"]["name"] == "CosineAnnealing"
    assert switch_optimizer("novograd", "sgd") == {"name": "sgd"}


def test_integral_float_max_steps_from_yaml():
    _, sched = setup(OmegaConf.create("lr: 0.1\nsched: {name: CosineAnnealing, max_steps: 1.0e+2}"))
    assert sched["scheduler"].max_steps == 100


def test_model_hook_for_custom_param_groups():
    class Custom(Stand):
        def setup_optimizer_param_groups(self):
            self._optimizer_param_groups = [{"params": list(self.decoder.parameters()), "lr": 0.5}]

    opt, _ = setup_optimization(Custom({"optim": {"name": "sgd", "lr": 0.1}}))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["lr"] == 0.5


def test_param_groups_are_rebuilt_on_every_call():
    model = Stand({"optim": {"name": "sgd", "lr": 0.1}})
    model._optimizer_param_groups = None
    setup_optimization(model)
    assert len(model._optimizer_param_groups) == 1
    with open_dict(model.cfg):
        model.cfg.optim_param_groups = {"decoder": {"lr": 0.01}}
    opt, _ = setup_optimization(model)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
