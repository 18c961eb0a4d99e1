"""hydra_runner: Hydra's CLI grammar on a small script, schema precedence, struct mode, no clutter, clear errors."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from dataclasses import dataclass, field
    from typing import Any
    from omegaconf import OmegaConf
    from nemo.core.config import hydra_runner

    @dataclass
    class Optim:
        name: str = "sgd"
        lr: float = 0.1
        momentum: float = 0.9          # only in the dataclass

    @dataclass
    class Model:
        hidden: int = 16
        layers: int = 2                # only in the dataclass
        width: int = 0
        depth: int = 0
        test_ds: Any = None
        optim: Optim = field(default_factory=Optim)

    @dataclass
    class Experiment:
        name: str = "dataclass"
        model: Model = field(default_factory=Model)

    @hydra_runner(config_path="conf", config_name="exp", schema=Experiment if os.environ.get("USE_SCHEMA") else None)
    def main(cfg):
        if os.environ.get("FAIL"):
            open("/no/such/data/file.jsonl")
        print("RESULT " + json.dumps({
            "cfg": OmegaConf.to_container(cfg, resolve=True),
            "cwd": os.getcwd(),
            "struct": OmegaConf.is_struct(cfg),
            "get_missing": cfg.get("not_there"),
        }))

    if __name__ == "__main__":
        main()
    """
)

EXP_YAML = textwrap.dedent(
    """
    name: yaml
    model:
      hidden: 32
      width: ${multiply:${model.hidden},2}
      depth: ${sum:1,2}
      optim:
        name: adam
        lr: 0.01
      test_ds:
        batch_size: 4
    """
)


@pytest.fixture
def script(tmp_path):
    folder = tmp_path / "app"
    (folder / "conf" / "other").mkdir(parents=True)
    (folder / "run.py").write_text(SCRIPT)
    (folder / "conf" / "exp.yaml").write_text(EXP_YAML)
    (folder / "conf" / "other" / "alt.yaml").write_text("name: alt\nmodel:\n  hidden: 7\n")
    (folder / "conf" / "broken.yaml").write_text("model:\n  hidden: [1\n")
    return folder / "run.py"


def run(script, *args, cwd, **env):
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **env)
    if "HYDRA_FULL_ERROR" not in env:
        full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=60)


def result(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_overrides_add_force_and_remove(script, tmp_path):
    out = result(run(script, "model.hidden=8", "+model.dropout=0.1", "++model.optim.lr=.5", "++model.new=1",
                     "~model.test_ds", "+model.optim.betas=[.8,.5]", cwd=tmp_path))
    model = out["cfg"]["model"]
    assert model["hidden"] == 8 and model["width"] == 16 and model["depth"] == 3  # resolvers see the override
    assert model["dropout"] == 0.1 and model["new"] == 1 and model["optim"]["lr"] == 0.5
    assert model["optim"]["betas"] == [0.8, 0.5]
    assert "test_ds" not in model
    assert out["struct"] is True and out["get_missing"] is None


def test_no_chdir_and_no_hydra_clutter(script, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = result(run(script, cwd=work))
    assert out["cwd"] == str(work)
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in script.parent.iterdir()) == ["conf", "run.py"]


def test_unknown_key_fails_naming_it(script, tmp_path):
    proc = run(script, "model.hiden=3", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Could not override 'model.hiden'" in proc.stderr
    assert "+model.hiden=3" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run(script, "+model.hidden=3", cwd=tmp_path)
    assert proc.returncode == 1 and "++model.hidden=3" in proc.stderr
    proc = run(script, "~model.nothing", cwd=tmp_path)
    assert proc.returncode == 1 and "model.nothing" in proc.stderr


def test_config_path_relative_to_script_and_config_name(script, tmp_path):
    out = result(run(script, "--config-path=conf/other", "--config-name=alt", cwd=tmp_path))
    assert out["cfg"] == {"name": "alt", "model": {"hidden": 7}}
    absolute = result(run(script, f"--config-path={script.parent / 'conf' / 'other'}", "--config-name=alt",
                          cwd=tmp_path))
    assert absolute["cfg"]["name"] == "alt"


def test_cfg_job_and_help(script, tmp_path):
    proc = run(script, "--cfg", "job", "model.hidden=5", cwd=tmp_path)
    assert proc.returncode == 0
    shown = OmegaConf.create(proc.stdout)
    assert shown.model.hidden == 5 and "RESULT" not in proc.stdout
    proc = run(script, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "run is powered by Hydra" in proc.stdout and "hidden: 32" in proc.stdout


def test_precedence_cli_over_yaml_over_dataclass(script, tmp_path):
    out = result(run(script, "model.optim.lr=0.5", "model.layers=4", cwd=tmp_path, USE_SCHEMA="1"))
    model = out["cfg"]["model"]
    assert out["cfg"]["name"] == "yaml"  # YAML over dataclass
    assert model["hidden"] == 32  # YAML over dataclass
    assert model["optim"]["lr"] == 0.5  # CLI over YAML
    assert model["layers"] == 4  # CLI over dataclass (key only in the dataclass)
    assert model["optim"]["momentum"] == 0.9  # dataclass default kept
    assert model["optim"]["name"] == "adam"
    proc = run(script, "model.hidden=oops", cwd=tmp_path, USE_SCHEMA="1")
    assert proc.returncode == 1 and "hidden" in proc.stderr
    assert "is validated against ConfigStore schema" not in proc.stderr  # Hydra's deprecation noise is hidden


def test_schema_with_folder_in_config_name_is_refused(script, tmp_path):
    proc = run(script, "--config-name=other/alt", cwd=tmp_path, USE_SCHEMA="1")
    assert proc.returncode == 1 and "--config-path" in proc.stderr


def test_errors_are_one_clear_message(script, tmp_path):
    proc = run(script, "--config-name=broken", cwd=tmp_path)
    assert proc.returncode == 1 and "cannot parse config" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(script, "--config-name=nope", cwd=tmp_path)
    assert proc.returncode == 1 and "Cannot find primary config 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run(script, cwd=tmp_path, FAIL="1")
    assert proc.returncode == 1
    assert "FileNotFoundError" in proc.stderr and "/no/such/data/file.jsonl" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 2
    proc = run(script, cwd=tmp_path, FAIL="1", HYDRA_FULL_ERROR="1")
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_dictconfig_passthrough_skips_hydra(monkeypatch):
    from nemo.core.config.hydra_runner import hydra_runner

    seen = []

    @hydra_runner(config_path="does/not/exist", config_name="nothing")
    def main(cfg):
        seen.append(cfg)

    monkeypatch.setattr(sys, "argv", ["prog", "not=parsed"])
    cfg = OmegaConf.create({"a": 1})
    main(cfg)
    assert seen == [cfg] and seen[0] is cfg


def test_resolvers_registered_on_import():
    import nemo.core.config.hydra_runner  # noqa: F401

    cfg = OmegaConf.create({"a": 3, "b": "${multiply:${a},4}", "c": "${sum:${a},0.5}", "g": "${gpu_name:}"})
    assert cfg.b == 12 and cfg.c == 3.5
    import torch

    if not torch.cuda.is_available():
        assert cfg.g is None


def test_bare_optimizer_name_switches_optimizer(script, tmp_path):
    (script.parent / "conf" / "opt.yaml").write_text(
        "model:\n  optim:\n    name: novograd\n    lr: 0.01\n    betas: [0.8, 0.25]\n    weight_decay: 0.001\n"
        "    sched:\n      name: CosineAnnealing\n"
    )
    out = result(run(script, "--config-name=opt", "model.optim=adam", "model.optim.lr=.0004",
                     "model.optim.betas=[.8,.5]", cwd=tmp_path))
    assert out["cfg"]["model"]["optim"] == {"name": "adam", "lr": 0.0004, "betas": [0.8, 0.5],
                                            "sched": {"name": "CosineAnnealing"}}
    out = result(run(script, "--config-name=opt", "model.optim=sgd", cwd=tmp_path))
    assert out["cfg"]["model"]["optim"] == {"name": "sgd", "lr": 0.01, "sched": {"name": "CosineAnnealing"}}


def test_package_attribute_is_the_decorator_whatever_was_imported_first():
    code = ("from nemo.core.config import NemoConfig\n"
            "from nemo.core.config import hydra_runner\n"
            "assert callable(hydra_runner) and hydra_runner.__name__ == 'hydra_runner', hydra_runner\n")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]


NEMO_SCHEMA_SCRIPT = '''
from omegaconf import OmegaConf
from nemo.core.config import hydra_runner
from nemo.core.config.modelPT import NemoConfig

@hydra_runner(config_path="conf", config_name="exp", schema=NemoConfig)
def main(cfg):
    print("RESULT", OmegaConf.to_container(cfg.model)["train_ds"]["batch_size"], "test_ds" in cfg.model,
          cfg.trainer.devices, "hydra" in cfg)

main()
'''


@pytest.mark.slow
def test_nemoconfig_schema_with_hydra_field_and_deletion(tmp_path):
    """NemoConfig carries a `hydra` field (Hydra's own node) and structured configs can't delete keys:
    both still work under a schema, as the seed's `~model.test_ds` needs."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "exp.yaml").write_text(
        "name: x\nmodel:\n  train_ds:\n    batch_size: 7\n  test_ds:\n    batch_size: 3\n"
    )
    (tmp_path / "run.py").write_text(NEMO_SCHEMA_SCRIPT)

    def run(*overrides):
        return subprocess.run([sys.executable, str(tmp_path / "run.py"), *overrides], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)

    out = run("model.train_ds.batch_size=9", "trainer.devices=1")
    assert "RESULT 9 True 1 False" in out.stdout, out.stderr[-2000:]
    out = run("~model.test_ds")
    assert "RESULT 7 False auto False" in out.stdout, out.stderr[-2000:]
    out = run("~model.nothere")
    assert out.returncode != 0 and "model.nothere" in (out.stdout + out.stderr)
