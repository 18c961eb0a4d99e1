"""Registries and params dataclasses as the seed prints them; register/get/parse helpers."""

import subprocess
import sys
from functools import partial

import pytest
import torch
from omegaconf.errors import ConfigKeyError, ValidationError

from nemo.core.config import optimizers as opt_cfg
from nemo.core.config import schedulers as sched_cfg
from nemo.core.optim import lr_scheduler, optimizers

SEED_OPTIMIZER_LINES = """\
name: sgd opt: <class 'torch.optim.sgd.SGD'>
name: adam opt: <class 'torch.optim.adam.Adam'>
name: adamw opt: <class 'torch.optim.adamw.AdamW'>
name: adadelta opt: <class 'torch.optim.adadelta.Adadelta'>
name: adamax opt: <class 'torch.optim.adamax.Adamax'>
name: adagrad opt: <class 'torch.optim.adagrad.Adagrad'>
name: rmsprop opt: <class 'torch.optim.rmsprop.RMSprop'>
name: rprop opt: <class 'torch.optim.rprop.Rprop'>
name: novograd opt: <class 'nemo.core.optim.novograd.Novograd'>
"""

SEED_SCHEDULER_LINES = """\
name: WarmupPolicy, schedule: <class 'nemo.core.optim.lr_scheduler.WarmupPolicy'>
name: WarmupHoldPolicy, schedule: <class 'nemo.core.optim.lr_scheduler.WarmupHoldPolicy'>
name: SquareAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.SquareAnnealing'>
name: CosineAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.CosineAnnealing'>
name: NoamAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.NoamAnnealing'>
name: WarmupAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.WarmupAnnealing'>
name: InverseSquareRootAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.InverseSquareRootAnnealing'>
name: SquareRootAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.SquareRootAnnealing'>
name: PolynomialDecayAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.PolynomialDecayAnnealing'>
name: PolynomialHoldDecayAnnealing, schedule: <class 'nemo.core.optim.lr_scheduler.PolynomialHoldDecayAnnealing'>
name: StepLR, schedule: <class 'torch.optim.lr_scheduler.StepLR'>
name: ExponentialLR, schedule: <class 'torch.optim.lr_scheduler.ExponentialLR'>
name: ReduceLROnPlateau, schedule: <class 'torch.optim.lr_scheduler.ReduceLROnPlateau'>
name: CyclicLR, schedule: <class 'torch.optim.lr_scheduler.CyclicLR'>
"""


def test_seed_optimizer_loop(capsys):
    from nemo.core.optim.optimizers import AVAILABLE_OPTIMIZERS

    for name, opt in AVAILABLE_OPTIMIZERS.items():
        print(f'name: {name}, opt: {opt}')
    # The seed's code prints "name: x, opt: ..." while its shown output lacks the comma; content and order match.
    assert capsys.readouterr().out.replace(", opt:", " opt:") == SEED_OPTIMIZER_LINES


def test_seed_scheduler_loop_starts_with_the_seed_lines(capsys):
    from nemo.core.optim.lr_scheduler import AVAILABLE_SCHEDULERS

    for name, opt in AVAILABLE_SCHEDULERS.items():
        print(f'name: {name}, schedule: {opt}')
    lines = capsys.readouterr().out.splitlines(keepends=True)
    assert "".join(lines[:14]) == SEED_SCHEDULER_LINES
    assert [line.split(",")[0] for line in lines[14:]] == [
        "name: NoamHoldAnnealing", "name: WarmupHoldAnnealOneMinusSquareRoot", "name: WarmupHoldAnnealLinear",
        "name: T5InverseSquareRootAnnealing",
    ]


def test_seed_params_prints(capsys):
    from nemo.core.config.optimizers import NovogradParams
    from nemo.core.config.schedulers import CosineAnnealingParams

    print(NovogradParams())
    print(CosineAnnealingParams())
    assert capsys.readouterr().out == (
        "NovogradParams(lr='???', betas=(0.95, 0.98), eps=1e-08, weight_decay=0, grad_averaging=False, "
        "amsgrad=False, luc=False, luc_trust=0.001, luc_eps=1e-08)\n"
        "CosineAnnealingParams(last_epoch=-1, warmup_steps=None, warmup_ratio=None, min_lr=0.0)\n"
    )


def test_params_reexported_from_nemo_core_config():
    import nemo.core.config as config

    assert config.NovogradParams is opt_cfg.NovogradParams
    assert config.CosineAnnealingParams is sched_cfg.CosineAnnealingParams
    hidden = sched_cfg.CosineAnnealingParams(max_steps=7, constant_steps=2)
    assert (hidden.max_steps, hidden.constant_steps, hidden.constant_ratio) == (7, 2, None)


def test_every_optimizer_has_params_whose_fields_it_accepts():
    import inspect

    for name, cls in optimizers.AVAILABLE_OPTIMIZERS.items():
        params = opt_cfg.AVAILABLE_OPTIMIZER_PARAMS[f"{name}_params"]
        accepted = set(inspect.signature(cls).parameters)
        fields = set(params.__dataclass_fields__)
        assert fields <= accepted, (name, fields - accepted)


@pytest.fixture
def cleanup():
    added = []
    yield added
    for registry, key in added:
        registry.pop(key, None)


def test_register_optimizer_usable_by_name(cleanup):
    from dataclasses import dataclass

    class MySGD(torch.optim.SGD):
        pass

    @dataclass
    class MyParams(opt_cfg.OptimizerParams):
        momentum: float = 0.5

    cleanup += [(optimizers.AVAILABLE_OPTIMIZERS, "mysgd"), (opt_cfg.AVAILABLE_OPTIMIZER_PARAMS, "mysgd_params")]
    optimizers.register_optimizer("mysgd", MySGD, MyParams)
    assert list(optimizers.AVAILABLE_OPTIMIZERS)[-1] == "mysgd"
    opt = optimizers.get_optimizer("mysgd", lr=0.1)([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, MySGD)
    # NeMo's `auto` lookup misses custom optimizers whose class name differs; ours finds "<name>_params".
    assert optimizers.parse_optimizer_args("mysgd", {"name": "auto", "params": {"lr": 0.2}}) == {
        "lr": 0.2, "momentum": 0.5}
    with pytest.raises(ValueError, match="Conflicting optimizer name = mysgd"):
        optimizers.register_optimizer("mysgd", MySGD, MyParams)
    with pytest.raises(ValueError, match="Conflicting optimizer name = adam"):
        optimizers.register_optimizer("adam", MySGD)


def test_unknown_optimizer_lists_known_names():
    with pytest.raises(ValueError, match=r"Cannot resolve optimizer 'adm'.*'sgd', 'adam'.*'novograd'"):
        optimizers.get_optimizer("adm")


def test_get_optimizer_returns_partial():
    factory = optimizers.get_optimizer("novograd", lr=0.3, betas=(0.8, 0.5))
    assert isinstance(factory, partial)
    opt = factory([torch.nn.Parameter(torch.zeros(1))])
    assert opt.param_groups[0]["lr"] == 0.3 and opt.param_groups[0]["betas"] == (0.8, 0.5)


def test_parse_optimizer_args_forms():
    parse = optimizers.parse_optimizer_args
    assert parse("adam", None) == {}
    assert parse("novograd", {"name": "auto", "params": {"lr": 0.5, "betas": [0.9, 0.9]}}) == {
        "lr": 0.5, "betas": [0.9, 0.9], "eps": 1e-08, "weight_decay": 0, "grad_averaging": False, "amsgrad": False,
        "luc": False, "luc_trust": 0.001, "luc_eps": 1e-08}
    # An unset lr is left out instead of being passed on as '???'.
    assert "lr" not in parse("sgd", {"name": "sgd_params", "momentum": 0.9})
    assert parse("sgd", {"name": "sgd_params", "momentum": 0.9})["momentum"] == 0.9
    assert parse("adam", {"weight_decay": 0.1}) == {"weight_decay": 0.1}
    assert parse("adam", ["lr=1e-3", "betas=[0.8,0.5]", "amsgrad=true"]) == {
        "lr": 0.001, "betas": [0.8, 0.5], "amsgrad": True}
    assert parse("adamw", {"_target_": "nemo.core.config.optimizers.AdamWParams", "lr": 0.1})["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="Cannot resolve optimizer parameters 'nope_params'"):
        parse("nope", {"name": "auto"})
    with pytest.raises(ConfigKeyError):
        parse("adam", {"name": "auto", "params": {"betass": 1}})


def test_parse_optimizer_args_target_is_allow_listed():
    from nemo.core.classes.exceptions import UnsafeTargetError

    with pytest.raises(UnsafeTargetError):
        optimizers.parse_optimizer_args("adam", {"_target_": "os.system", "command": "true"})


def test_get_optimizer_config_validates():
    assert opt_cfg.get_optimizer_config(None, lr=1) == {"lr": 1}
    params = opt_cfg.get_optimizer_config("novograd_params", lr=0.1, amsgrad=True)()
    assert params.lr == 0.1 and params.amsgrad is True
    with pytest.raises(ConfigKeyError):
        opt_cfg.get_optimizer_config("adam_params", nope=1)
    with pytest.raises(ValidationError):
        opt_cfg.get_optimizer_config("adam_params", amsgrad="maybe")
    with pytest.raises(ValueError, match="Available optimizer parameters"):
        opt_cfg.get_optimizer_config("missing_params")
    with pytest.raises(ValueError, match="Conflicting"):
        opt_cfg.register_optimizer_params("adam_params", opt_cfg.AdamParams)


def test_register_scheduler_and_lookup(cleanup):
    class Flat(lr_scheduler.WarmupPolicy):
        pass

    cleanup += [(lr_scheduler.AVAILABLE_SCHEDULERS, "Flat"), (sched_cfg.AVAILABLE_SCHEDULER_PARAMS, "FlatParams")]
    lr_scheduler.register_scheduler("Flat", Flat, sched_cfg.WarmupSchedulerParams)
    assert sched_cfg.AVAILABLE_SCHEDULER_PARAMS["FlatParams"] is sched_cfg.WarmupSchedulerParams
    with pytest.raises(ValueError, match="Conflicting scheduler name = Flat"):
        lr_scheduler.register_scheduler("Flat", Flat)
    with pytest.raises(ValueError, match=r"Cannot resolve scheduler 'Flt'.*'CosineAnnealing'"):
        lr_scheduler.get_scheduler("Flt")


def test_get_scheduler_drops_max_steps_only_where_not_taken():
    assert "max_steps" not in lr_scheduler.get_scheduler("StepLR", step_size=2, max_steps=10).keywords
    assert lr_scheduler.get_scheduler("CosineAnnealing", max_steps=10).keywords == {"max_steps": 10}


def test_scheduler_params_registry_and_config():
    assert list(sched_cfg.AVAILABLE_SCHEDULER_PARAMS)[:3] == ["SchedulerParams", "WarmupPolicyParams",
                                                              "WarmupHoldPolicyParams"]
    made = sched_cfg.get_scheduler_config("NoamHoldAnnealingParams", hold_steps=3)()
    assert (made.hold_steps, made.decay_rate, made.min_lr) == (3, 0.5, 0.0)
    with pytest.raises(ValueError, match="Cannot resolve scheduler parameters"):
        sched_cfg.get_scheduler_config("Nope")
    with pytest.raises(ValueError, match="Conflicting"):
        sched_cfg.register_scheduler_params("CosineAnnealingParams", sched_cfg.CosineAnnealingParams)


def test_import_is_light():
    code = ("import sys, nemo.core.optim, nemo.core.config.optimizers, nemo.core.config.schedulers; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'hydra', 'pytorch_lightning'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
