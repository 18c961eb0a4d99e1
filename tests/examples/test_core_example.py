"""examples/core/train_tiny_model.py run as a user would: command lines, YAML, log dir, resume, several processes."""

import glob
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "core"
SCRIPT = EXAMPLE_DIR / "train_tiny_model.py"
QUIET = ["trainer.enable_progress_bar=false"]


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("NEMO_EXPM_VERSION", None)
    env.pop("HYDRA_FULL_ERROR", None)
    env.update(extra)
    return env


def run_example(args, cwd, timeout=120, script=SCRIPT, **env):
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _scalars(log_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents*"))):
        acc = EventAccumulator(path)
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            for event in acc.Scalars(tag):
                values[event.step] = event.value
    return values


def _restore(path):
    sys.path.insert(0, str(EXAMPLE_DIR))
    try:
        from tiny_model import TinyRegressionModel

        return TinyRegressionModel.restore_from(str(path))
    finally:
        sys.path.remove(str(EXAMPLE_DIR))


@pytest.mark.slow
def test_default_run_writes_nemo_layout_and_prints_where(tmp_path):
    out = _ok(run_example(QUIET + ["trainer.max_epochs=2"], cwd=tmp_path))
    versions = list((tmp_path / "nemo_experiments" / "TinyRegression").iterdir())
    assert len(versions) == 1
    log_dir = versions[0]
    assert len(log_dir.name) == len("2025-01-02_03-04-05")  # datetime version folder
    for name in ("cmd-args.log", "hparams.yaml", "nemo_log_globalrank-0_localrank-0.txt", "lightning_logs.txt"):
        assert (log_dir / name).is_file(), name
    ckpts = sorted(p.name for p in (log_dir / "checkpoints").iterdir())
    assert any(n.startswith("TinyRegression--val_loss=") and n.endswith("-epoch=1.ckpt") for n in ckpts), ckpts
    assert sum(n.endswith("-last.ckpt") for n in ckpts) == 1, ckpts
    assert "TinyRegression.nemo" in ckpts
    assert f"Log dir: {log_dir}" in out
    assert f".nemo file: {log_dir / 'checkpoints' / 'TinyRegression.nemo'}" in out
    assert "Best checkpoint: " + str(log_dir / "checkpoints") in out
    assert "test_loss" in out
    # The progress bar metrics include loss and learning rate.
    for tag in ("train_loss", "lr", "val_loss", "train_step_timing in s"):
        assert _scalars(log_dir, tag), tag
    model = _restore(log_dir / "checkpoints" / "TinyRegression.nemo")
    assert model.cfg.hidden == 32
    x = torch.randn(4, 8)
    assert model(x).shape == (4, 1)


@pytest.mark.slow
def test_seed_cli_grammar_on_the_example(tmp_path):
    # `+` adds a key, `~` removes one, `=` sets one; fast_dev_run disables exp_manager's files.
    out = _ok(
        run_example(
            QUIET + ["trainer.max_epochs=50", "model.optim.lr=.0004", "model.optim.betas=[.8,.5]", "~model.test_ds",
                     "+trainer.fast_dev_run=true", "++model.extra_key=1"],
            cwd=tmp_path,
        )
    )
    assert "finished at global_step=1" in out
    assert "test_loss" not in out
    assert not (tmp_path / "nemo_experiments").exists()


@pytest.mark.slow
def test_config_path_is_relative_to_the_script_and_cfg_job_prints(tmp_path):
    proc = run_example(["--config-path=conf/variants", "--config-name=wide", "--cfg", "job"], cwd=tmp_path)
    out = _ok(proc)
    assert "hidden: 128" in out and "name: TinyRegressionWide" in out
    help_out = _ok(run_example(["--help"], cwd=tmp_path))
    assert "train_tiny_model is powered by Hydra" in help_out
    assert list(tmp_path.iterdir()) == []  # no outputs/ or .hydra/


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["trainer.max_epoch=3"], "Could not override 'trainer.max_epoch'"),
        (["model.train_ds.manifest_filepath=/no/such/train.jsonl"], "/no/such/train.jsonl"),
    ],
)
def test_errors_are_one_clear_message(tmp_path, args, message):
    proc = run_example(args, cwd=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bad_yaml_is_one_clear_message(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "broken.yaml").write_text("trainer:\n  max_epochs: [1\n")
    proc = run_example([f"--config-path={conf}", "--config-name=broken"], cwd=tmp_path)
    assert proc.returncode == 1
    assert "cannot parse config" in proc.stderr and "broken.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bf16_mixed_trains_on_cpu(tmp_path):
    out = _ok(run_example(QUIET + ["trainer.precision=bf16-mixed", "trainer.max_epochs=1", "~model.test_ds"], cwd=tmp_path))
    assert "finished at global_step=16" in out
    assert "bf16" in out.lower()


KILLER = textwrap.dedent(
    """
    import os, runpy, signal, sys
    script = sys.argv[1]
    at_step = int(os.environ["SIGNAL_AT_STEP"])
    signum = getattr(signal, os.environ["SIGNAL_NAME"])
    sys.path.insert(0, os.path.dirname(script))
    import tiny_model

    def on_train_batch_start(self, batch, batch_idx):
        if self.trainer.global_step >= at_step:
            os.kill(os.getpid(), signum)

    tiny_model.TinyRegressionModel.on_train_batch_start = on_train_batch_start
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
    """
)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_continues_from_last_checkpoint(tmp_path):
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    common = QUIET + [
        "trainer.max_epochs=3",  # 16 steps per epoch -> 48 steps
        "~model.test_ds",
        "exp_manager.resume_if_exists=true",
        "exp_manager.resume_ignore_no_checkpoint=true",
        "exp_manager.checkpoint_callback_params.every_n_train_steps=4",
    ]
    crashed = tmp_path / "crashed"
    proc = subprocess.run(
        [sys.executable, str(killer), str(SCRIPT), f"exp_manager.exp_dir={crashed}", *common],
        cwd=tmp_path, env=_env(SIGNAL_AT_STEP="23", SIGNAL_NAME="SIGKILL"), capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    log_dir = crashed / "TinyRegression"  # resume_if_exists: no version folder
    last = list((log_dir / "checkpoints").glob("*-last.ckpt"))
    assert len(last) == 1
    assert not list((log_dir / "checkpoints").glob(".*.tmp"))
    state = torch.load(last[0], map_location="cpu", weights_only=True)
    assert state["global_step"] == 20 and state["epoch"] == 1  # mid-epoch: 4 of 16 batches done

    out = _ok(run_example([f"exp_manager.exp_dir={crashed}", *common], cwd=tmp_path))
    assert f"Resuming training from checkpoint: {last[0]}" in out
    assert "Config is the same as in the checkpoint being resumed" in out
    assert "finished at global_step=48" in out
    assert (log_dir / "run_0" / "cmd-args.log").is_file()  # the first run's files moved aside

    final = torch.load(next((log_dir / "checkpoints").glob("*epoch=2-last.ckpt")), map_location="cpu", weights_only=True)
    assert final["global_step"] == 48
    assert float(final["optimizer_states"][0]["state"][0]["step"]) == 48  # Adam's state continued, not restarted

    clean = tmp_path / "clean"
    out_clean = _ok(run_example([f"exp_manager.exp_dir={clean}", *common], cwd=tmp_path))
    assert "finished at global_step=48" in out_clean

    lr_resumed, lr_clean = _scalars(log_dir, "lr"), _scalars(clean / "TinyRegression", "lr")
    assert sorted(lr_resumed) == sorted(lr_clean) == list(range(48))
    for step in range(48):  # scheduler and step count continue exactly
        assert lr_resumed[step] == pytest.approx(lr_clean[step], rel=1e-6)
    val_resumed, val_clean = _scalars(log_dir, "val_loss"), _scalars(clean / "TinyRegression", "val_loss")
    final_resumed, final_clean = val_resumed[max(val_resumed)], val_clean[max(val_clean)]
    assert final_resumed == pytest.approx(final_clean, rel=0.3)


@pytest.mark.slow
def test_sigterm_saves_the_last_checkpoint_before_exiting(tmp_path):
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    exp = tmp_path / "exp"
    proc = subprocess.run(
        [sys.executable, str(killer), str(SCRIPT), *QUIET, "trainer.max_epochs=3", "~model.test_ds",
         f"exp_manager.exp_dir={exp}", "exp_manager.version=v"],
        cwd=tmp_path, env=_env(SIGNAL_AT_STEP="21", SIGNAL_NAME="SIGTERM"), capture_output=True, text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert "SIGTERM received: saving the last checkpoint at step 22" in output, output[-2000:]
    assert "finished at global_step" not in output  # Lightning ends the run after that step
    (last,) = (exp / "TinyRegression" / "v" / "checkpoints").glob("*-last.ckpt")
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 22  # mid-epoch 1


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_processes_with_ddp(tmp_path):
    out = _ok(
        run_example(
            QUIET + ["trainer.devices=2", "trainer.accelerator=cpu", "trainer.strategy=ddp", "trainer.max_epochs=2",
                     "~model.test_ds", f"exp_manager.exp_dir={tmp_path / 'exp'}"],
            cwd=tmp_path, timeout=180, MASTER_PORT=str(_free_port()),
        )
    )
    assert "rank 0: finished at global_step=16" in out  # 512 samples / (32 x 2 processes) = 8 steps per epoch
    assert "rank 1: finished at global_step=16" in out
    (log_dir,) = (tmp_path / "exp" / "TinyRegression").iterdir()
    assert (log_dir / "nemo_log_globalrank-1_localrank-1.txt").is_file()
    events = list(log_dir.glob("events.out.tfevents*"))
    assert events and len({p.name.split(".")[4] for p in events}) == 1  # one writer process: rank 0
    assert len(list(log_dir.glob("checkpoints/*.nemo"))) == 1
    model = _restore(log_dir / "checkpoints" / "TinyRegression.nemo")
    assert model(torch.randn(2, 8)).shape == (2, 1)


@pytest.mark.slow
def test_two_simulated_nodes(tmp_path):
    port = str(_free_port())
    args = QUIET + ["trainer.devices=1", "trainer.num_nodes=2", "trainer.strategy=ddp", "trainer.max_epochs=2",
                    "~model.test_ds", f"exp_manager.exp_dir={tmp_path / 'exp'}", "exp_manager.version=run"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=_env(NODE_RANK=str(node), MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
        )
        for node in (1, 0)
    ]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][-2000:] + outs[1][-2000:]
    assert "rank 1: finished at global_step=16" in outs[0]
    assert "rank 0: finished at global_step=16" in outs[1]
    assert ".nemo file:" in outs[1] and ".nemo file:" not in outs[0]
    log_dir = tmp_path / "exp" / "TinyRegression" / "run"
    assert (log_dir / "checkpoints" / "TinyRegression.nemo").is_file()
    assert (log_dir / "nemo_log_globalrank-1_localrank-0.txt").is_file()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_gpu_mixed_precision(tmp_path, precision):
    out = _ok(run_example(QUIET + ["trainer.accelerator=gpu", f"trainer.precision={precision}", "trainer.max_epochs=2"],
                          cwd=tmp_path))
    assert "finished at global_step=32" in out
