"""examples/asr/asr_ctc/speech_to_text_ctc.py run through its command line, as the seed's examples show."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "asr" / "asr_ctc" / "speech_to_text_ctc.py"
CONF = REPO / "examples" / "asr" / "conf"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Eight short espeak-ng utterances: 4 train, 2 dev, 2 test (digit strings only, so they stay short)."""
    from nemo.collections.asr.data.synth import synthesize_corpus

    try:
        return synthesize_corpus(str(tmp_path_factory.mktemp("asr_corpus")), 4, 2, 2, seed=5, digit_fraction=1.0)
    except Exception as err:  # espeak-ng missing
        pytest.skip(f"no speech corpus: {err}")


def _data(corpus, batch_size=2):
    args = [f"model.train_ds.manifest_filepath={corpus['train']}",
            f"model.validation_ds.manifest_filepath={corpus['dev']}"]
    for split in ("train_ds", "validation_ds"):
        args += [f"model.{split}.batch_size={batch_size}", f"model.{split}.num_workers=0"]
    return args


def run(args, cwd, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _ok(result):
    rc, out = result
    assert rc == 0, out[-4000:]
    return out


@pytest.mark.slow
def test_seed_command_default_config_fast_dev_run(corpus, tmp_path):
    out = _ok(run(_data(corpus) + ["trainer.devices=1", "trainer.accelerator=cpu", "trainer.max_epochs=50",
                                   "+trainer.fast_dev_run=true"], cwd=tmp_path))
    assert "`Trainer.fit` stopped: `max_steps=1` reached." in out
    assert "val_wer=" in out  # the dev WER line printed after validation
    assert not (tmp_path / "nemo_experiments").exists()  # fast_dev_run writes no logs or checkpoints


@pytest.mark.slow
def test_seed_command_two_devices_ddp_on_cpu(corpus, tmp_path):
    """`trainer.devices=2` as in the seed: two CPU processes under the recipe's `strategy: ddp`."""
    out = _ok(run(_data(corpus, 1) + ["~model.test_ds", "trainer.devices=2", "trainer.accelerator=cpu",
                                      "trainer.max_epochs=50", "+trainer.fast_dev_run=true"], cwd=tmp_path, timeout=180))
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in out
    assert out.count("epoch 0 step 1: val_loss=") == 1  # printed by rank 0 only


@pytest.mark.slow
def test_seed_command_quartznet_15x5_from_config_path(corpus, tmp_path):
    """`--config-path=conf/quartznet` as the seed writes it, from an unrelated working directory."""
    out = _ok(run(["--config-path=conf/quartznet", "--config-name=quartznet_15x5"] + _data(corpus, 1)
                  + ["~model.test_ds", "trainer.devices=1", "trainer.accelerator=cpu", "trainer.max_epochs=50",
                     "+trainer.fast_dev_run=true"], cwd=tmp_path))
    assert "18.9 M" in out and "Novograd" in out
    assert "epoch 0 step 1: val_loss=" in out


@pytest.mark.slow
@pytest.mark.parametrize("switch,weight_decay", [("model.optim.name=adam", "0.001"), ("model.optim=adam", "0")])
def test_seed_adam_overrides(corpus, tmp_path, switch, weight_decay):
    """The seed's optimizer lines: name (or the bare `model.optim=adam`), lr and betas from the command line.

    Setting only the name keeps the YAML's other keys; the bare switch keeps lr/sched and drops Novograd's arguments."""
    out = _ok(run(["--config-path=conf/quartznet", "--config-name=quartznet_5x5"] + _data(corpus)
                  + ["~model.test_ds", "trainer.accelerator=cpu", "+trainer.fast_dev_run=true"]
                  + [switch, "model.optim.lr=.0004", "model.optim.betas=[.8,.5]"], cwd=tmp_path))
    opt = out[out.index("Optimizer config = "):]
    opt = opt[:opt.index("\n)")]
    assert opt.startswith("Optimizer config = Adam (")
    assert "lr: 0.0004" in opt and "betas: (0.8, 0.5)" in opt
    assert "grad_averaging" not in opt  # Novograd's own arguments are gone
    assert f"weight_decay: {weight_decay}\n" in opt + "\n"
    assert "6.7 M" in out


def test_jasper_10x5dr_seed_command_composes(tmp_path):
    """The Jasper recipe through the command line (`--cfg job` prints the composed config and stops)."""
    import yaml

    rc, out = run(["--config-path=conf/jasper", "--config-name=jasper_10x5dr", "model.train_ds.manifest_filepath=t.json",
                   "model.validation_ds.manifest_filepath=d.json", "trainer.devices=2", "trainer.accelerator=cpu",
                   "trainer.max_epochs=50", "+trainer.fast_dev_run=true", "--cfg", "job"], cwd=tmp_path)
    assert rc == 0, out
    cfg = yaml.safe_load(out)
    assert cfg["name"] == "Jasper10x5" and cfg["trainer"]["devices"] == 2 and cfg["trainer"]["fast_dev_run"] is True
    blocks = cfg["model"]["encoder"]["jasper"]
    assert [b["filters"] for b in blocks] == [256] * 3 + [384] * 2 + [512] * 2 + [640] * 2 + [768] * 2 + [896, 1024]
    assert sum(b.get("residual_dense", False) for b in blocks) == 10 and not any(b.get("separable") for b in blocks)
    assert "test_ds" not in cfg["model"]


@pytest.mark.slow
def test_jasper_10x5dr_builds_with_nemo_parameter_count():
    """332,632,349 parameters, NeMo's count for this recipe (building it takes ~30 s on a busy CPU)."""
    from omegaconf import OmegaConf

    from nemo.collections.asr.models import EncDecCTCModel

    cfg = OmegaConf.load(CONF / "jasper" / "jasper_10x5dr.yaml").model
    cfg.train_ds.manifest_filepath = cfg.validation_ds.manifest_filepath = None
    model = EncDecCTCModel(cfg=cfg)
    assert sum(p.numel() for p in model.parameters()) == 332_632_349
    assert len(model.encoder.encoder) == 13 and model.decoder.num_classes_with_blank == 29


@pytest.mark.slow
def test_short_training_writes_a_nemo_file(corpus, tmp_path):
    """Two epochs without fast_dev_run: checkpoints, a .nemo, and the dev WER per epoch."""
    out = _ok(run(_data(corpus) + ["trainer.accelerator=cpu", "trainer.strategy=auto", "trainer.max_epochs=2",
                                   "+exp_manager.explicit_log_dir=run", "exp_manager.create_tensorboard_logger=false"],
                  cwd=tmp_path))
    assert "epoch 0 step 2: val_loss=" in out and "epoch 1 step 4: val_loss=" in out
    nemo_file = tmp_path / "run" / "checkpoints" / "QuartzNet15x5.nemo"
    assert f".nemo file: {nemo_file}" in out and nemo_file.is_file()
    # fine-tuning from it, as NeMo's script allows: every weight taken over
    out = _ok(run(_data(corpus) + ["trainer.accelerator=cpu", "trainer.strategy=auto", "+trainer.fast_dev_run=true",
                                   f"+init_from_nemo_model={nemo_file}"], cwd=tmp_path))
    assert f"Model initialized with weights from {nemo_file}" in out and "0 excluded" in out


@pytest.mark.slow
def test_bad_config_path_and_missing_manifest_are_one_line_errors(corpus, tmp_path):
    rc, out = run(["--config-path=conf/nowhere", "--config-name=quartznet_15x5"], cwd=tmp_path)
    assert rc != 0 and "nowhere" in out
    rc, out = run(["--config-path=conf/quartznet", "--config-name=quartznet_15x5", "trainer.accelerator=cpu"],
                  cwd=tmp_path)
    assert rc != 0 and "manifest_filepath" in out and "Traceback" not in out
