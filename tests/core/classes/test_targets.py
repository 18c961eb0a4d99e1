"""`_target_` resolution (issue 12 item 1): objects, not strings; the whole tree checked before anything runs."""

import json
import os
import subprocess
import sys
import tarfile
import textwrap

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from nemo.core import ConfigError, ModelClassError, ModelPT, UnsafeTargetError
from nemo.core.classes.common import Serialization, safe_instantiate
from nemo.core.classes.targets import allowed_targets, check_targets, instantiate, resolve_target
from tests.conftest import GOLDEN
from tests.core.toy_models import Toy

HOSTILE = [
    "nemo.core.connectors.archive.Path.write_text",  # pathlib's, through an allowed module's globals
    "torch.nn.functional.torch.hub.load",  # a module on the way
    "nemo.os.system",
    "builtins.eval",
    "torch.nn.modules.module.Module.__init__.__globals__",
    "nemo.core.connectors.archive.os.system",
    "nemo.core.classes.targets.importlib.import_module",
    "torch.nn.modules.module.OrderedDict",  # a class, but defined in collections
    "nemo.core.classes.common.OmegaConf.create",
    "torch.nn.Module.to",  # a method
    "nemo.utils.download.download",  # a file/network helper inside nemo.
    "torch.nn.functional.torch",  # a module
    "nemo",
    "${oc.env:HOME}",
    "os.system",
    "subprocess.Popen",
]

# Run in a fresh interpreter with an audit hook: every import and every open-for-write/process start is recorded.
_PROBE = textwrap.dedent("""
    import json, sys
    import nemo.core.classes.targets as t
    from nemo.core import NeMoBaseException
    events = []
    def hook(event, args):
        if event == "import":
            events.append(("import", args[0]))
        elif event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
            events.append(("open", str(args[0])))
        elif event in ("os.system", "subprocess.Popen", "os.exec", "os.spawn", "exec", "os.remove", "shutil.copyfile"):
            events.append((event, repr(args)[:80]))
    import importlib
    for target in json.loads(sys.argv[1]):  # modules on a target's own path may load; load them before listening
        parts = target.split(".")
        for i in range(1, len(parts)):
            try:
                importlib.import_module(".".join(parts[:i]))
            except Exception:
                break
    before = set(sys.modules)
    sys.addaudithook(hook)
    out = {}
    for target in json.loads(sys.argv[1]):
        events.clear()
        try:
            t.check_targets({"x": {"_target_": target, "_args_": ["/tmp/pwned_by_target"]}})
            outcome = "accepted"
        except NeMoBaseException as e:
            outcome = type(e).__name__
        out[target] = {"outcome": outcome, "events": list(events)}
    out["_new_modules"] = sorted(set(sys.modules) - before)
    print(json.dumps(out))
""")


@pytest.mark.parametrize("target", [
    "nemo.core.classes.modelPT.ModelPT.restore_from",  # a classmethod
    "nemo.core.classes.model_init.os.system",
    "nemo.core.classes.modelPT.pl.Trainer",  # lightning's, through a module global
])
def test_hostile_targets_through_heavier_modules_refused(target):
    with pytest.raises(UnsafeTargetError):
        check_targets({"x": {"_target_": target}})


def test_hostile_targets_refused_before_importing_or_calling_anything(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HOSTILE)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for target in HOSTILE:
        assert result[target]["outcome"] == "UnsafeTargetError", (target, result[target])
        assert result[target]["events"] == [], (target, result[target]["events"])  # nothing imported, opened, run
    assert result["_new_modules"] == []
    assert not os.path.exists("/tmp/pwned_by_target") and os.listdir(tmp_path) == []


@pytest.mark.parametrize("target, defined", [
    ("nemo.collections.asr.modules.ConvASREncoder", "nemo.collections.asr.modules.conv_asr.ConvASREncoder"),
    ("nemo.collections.asr.modules.SpectrogramAugmentation",
     "nemo.collections.asr.modules.audio_preprocessing.SpectrogramAugmentation"),
    ("torch.optim.Adam", "torch.optim.adam.Adam"),
    ("torch.optim.adam.Adam", "torch.optim.adam.Adam"),
    ("torch.nn.Linear", "torch.nn.modules.linear.Linear"),
    ("torch.nn.functional.relu", "torch.nn.functional.relu"),
    ("nemo.core.optim.optimizers.Novograd", "nemo.core.optim.novograd.Novograd"),
    ("nemo.core.config.optimizers.AdamWParams", "nemo.core.config.optimizers.AdamWParams"),
])
def test_real_config_targets_and_reexports_resolve_to_their_definition(target, defined):
    obj = resolve_target(target)
    assert f"{obj.__module__}.{obj.__qualname__}" == defined


def test_missing_target_is_a_model_class_error_naming_the_key():
    with pytest.raises(ModelClassError, match=r"encoder\._target_"):
        check_targets({"encoder": {"_target_": "nemo.collections.asr.modules.NoSuchEncoder"}}, where="cfg.yaml")
    check_targets({"encoder": {"_target_": "nemo.collections.asr.modules.NoSuchEncoder"}}, missing_ok=True)


def _write_with_config(src: str, dst: str, mutate) -> None:
    """Copy a .nemo, replacing its model_config.yaml by `mutate(cfg)`'s result."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for info in tin.getmembers():
            data = tin.extractfile(info).read() if info.isfile() else None
            if info.name.endswith("model_config.yaml"):
                cfg = OmegaConf.create(data.decode())
                mutate(cfg)
                data = OmegaConf.to_yaml(cfg).encode()
                info.size = len(data)
            import io

            tout.addfile(info, io.BytesIO(data) if data is not None else None)


def _chain(victim: str) -> dict:
    """The exploit: build a Path, then call its write_text with attacker text (a file that could be imported later)."""
    return {"_target_": "nemo.core.connectors.archive.Path.write_text",
            "_args_": [{"_target_": "nemo.core.connectors.archive.Path", "_args_": [victim]}, "import os\n"]}


def test_nested_exploit_in_an_untrusted_nemo_is_refused(tmp_path):
    from nemo.collections.asr.models import EncDecCTCModel

    victim = str(tmp_path / "sitecustomize.py")
    evil = str(tmp_path / "evil.nemo")

    def mutate(cfg):
        cfg.encoder.jasper[0].extra = _chain(victim)

    _write_with_config(str(GOLDEN / "quartznet_small_nemo.nemo"), evil, mutate)
    for cls in (EncDecCTCModel, ModelPT):
        with pytest.raises(UnsafeTargetError, match=r"encoder\.jasper\[0\]\.extra\._target_"):
            cls.restore_from(evil, map_location="cpu")
    assert not os.path.exists(victim)


def test_top_level_tokenizer_style_config_is_refused(tmp_path):
    victim = tmp_path / "x.py"
    with pytest.raises(UnsafeTargetError):
        safe_instantiate(_chain(str(victim)))
    with pytest.raises(UnsafeTargetError):
        safe_instantiate({"_target_": "torch.nn.functional.torch.hub.load", "repo_or_dir": "x", "model": "y"})
    with pytest.raises(UnsafeTargetError):
        Serialization.from_config_dict(OmegaConf.create({"_target_": "torch.nn.Linear", "in_features": 1,
                                                         "out_features": 1, "bias": _chain(str(victim))}))
    assert not victim.exists()


def test_lightning_checkpoint_with_a_hostile_config_is_refused(tmp_path):
    victim = tmp_path / "x.py"
    model = Toy(OmegaConf.create({"dim": 2, "optim": {"name": "sgd", "lr": 0.1}}))
    trainer = pl.Trainer(accelerator="cpu", max_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    ckpt = torch.load(tmp_path / "m.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["cfg"]["payload"] = _chain(str(victim))
    torch.save(ckpt, tmp_path / "evil.ckpt")
    with pytest.raises(UnsafeTargetError, match=r"payload\._target_"):
        Toy.load_from_checkpoint(str(tmp_path / "evil.ckpt"))
    assert not victim.exists()


def test_constructing_a_model_checks_its_whole_config_first(tmp_path):
    victim = tmp_path / "x.py"
    with pytest.raises(UnsafeTargetError, match=r"deep\.list\[1\]\._target_"):
        Toy(OmegaConf.create({"dim": 2, "deep": {"list": [1, _chain(str(victim))]}}))
    assert not victim.exists()


def test_reserved_keys_are_checked():
    with pytest.raises(ConfigError, match=r"a\._args_"):
        check_targets({"a": {"_target_": "torch.nn.Linear", "_args_": "12"}})
    with pytest.raises(ConfigError, match=r"_partial_"):
        check_targets({"_target_": "torch.nn.Linear", "_partial_": "yes"})
    with pytest.raises(ConfigError, match=r"_convert_"):
        check_targets({"_target_": "torch.nn.Linear", "_convert_": "weird"})


def test_instantiate_follows_hydra_semantics():
    seq = instantiate({"_target_": "torch.nn.Sequential",
                       "_args_": [{"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3},
                                  {"_target_": "torch.nn.ReLU"}]})
    assert isinstance(seq[0], torch.nn.Linear) and isinstance(seq[1], torch.nn.ReLU)
    factory = instantiate({"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.5})
    opt = factory([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["lr"] == 0.5
    lin = instantiate(OmegaConf.create({"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 4}),
                      out_features=5)
    assert lin.out_features == 5
    built = instantiate({"a": {"_target_": "torch.nn.Identity"}, "b": [1, 2]})
    assert isinstance(built.a, torch.nn.Identity) and list(built.b) == [1, 2]
    with allowed_targets(["builtins.dict"]):
        kept = instantiate({"_target_": "builtins.dict", "_recursive_": False, "x": {"_target_": "torch.nn.Identity"}})
        plain = instantiate({"_target_": "builtins.dict", "_convert_": "all", "x": {"y": 1}})
    assert kept["x"]["_target_"] == "torch.nn.Identity"
    assert type(plain["x"]) is dict


def test_opt_in_prefixes_and_exact_names():
    with pytest.raises(UnsafeTargetError):
        resolve_target("collections.OrderedDict")
    with allowed_targets(["collections.OrderedDict"]):
        assert resolve_target("collections.OrderedDict") is __import__("collections").OrderedDict
        with pytest.raises(UnsafeTargetError):
            resolve_target("collections.defaultdict")
    with allowed_targets(["my_missing_pkg."]):
        with pytest.raises(ModelClassError):
            resolve_target("my_missing_pkg.Thing")
