"""`make demo`: synthesise speech with espeak-ng, train a small QuartzNet on the CPU, save the .nemo, transcribe.

Everything goes under demo_out/. A second run reuses the corpus and the trained model (it still restores and
transcribes in a fresh process); `python examples/demo.py --retrain` trains again.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "asr", "asr_ctc", "speech_to_text_ctc.py")
TRANSCRIBE = os.path.join(REPO, "examples", "asr", "transcribe_speech.py")
CONFIG_DIR = "conf/quartznet"
CORPUS = dict(num_train=1200, num_dev=150, num_test=150, seed=0)
TRAIN_LIMIT = "00:00:10:00"  # Lightning's max_time: training stops after 10 minutes whatever happens


def banner(text):
    print(f"\n=== {text} ===", flush=True)


def torch_threads() -> int:
    """All cores on an idle machine; one when other processes already keep the cores busy (much faster then)."""
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] > cores - 0.5 else cores


def plan_epochs(config_file, corpus, threads, budget_s=540.0):
    """Time a few training steps here and pick the number of epochs (so the LR schedule) that fits the budget."""
    import torch
    from omegaconf import OmegaConf

    from nemo.collections.asr.models import EncDecCTCModel

    torch.set_num_threads(threads)
    cfg = OmegaConf.load(config_file)
    cfg.model.train_ds.manifest_filepath = corpus["train"]
    cfg.model.validation_ds.manifest_filepath = None
    model = EncDecCTCModel(cfg=cfg.model)
    optim = OmegaConf.to_container(cfg.model.optim)
    optim.pop("sched", None)  # the schedule needs the trainer; the step cost does not
    model.setup_optimization(OmegaConf.create(optim))
    model.train()
    loader = iter(model._train_dl)
    times = []
    for _ in range(5):
        start = time.time()
        loss = model.training_step(next(loader), 0)["loss"]
        model._optimizer.zero_grad()
        loss.backward()
        model._optimizer.step()
        times.append(time.time() - start)
    step_s = sorted(times[1:])[1]  # after one warm-up step; second fastest of four, to ride out a burst of load
    epoch_s = len(model._train_dl) * step_s * 1.1  # + validation on the 150 dev files
    epochs = max(2, min(cfg.trainer.max_epochs, int(budget_s / epoch_s)))
    print(f"{step_s:.2f} s per step of {cfg.model.train_ds.batch_size} -> about {epoch_s:.0f} s per epoch: "
          f"{epochs} epochs (the cosine schedule spans them; max_time stops at 10 minutes regardless)", flush=True)
    return epochs


def train(out_dir, corpus, env, epochs, config_name):
    """Run the example training script with the demo recipe; returns (path of the .nemo, seconds)."""
    from omegaconf import OmegaConf

    run_dir = os.path.join(out_dir, "train")
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [sys.executable, EXAMPLE, f"--config-path={CONFIG_DIR}", f"--config-name={config_name}",
           f"model.train_ds.manifest_filepath={corpus['train']}",
           f"model.validation_ds.manifest_filepath={corpus['dev']}",
           f"trainer.max_epochs={epochs}", f"+trainer.max_time={TRAIN_LIMIT}", f"+exp_manager.explicit_log_dir={run_dir}"]
    print("$ " + " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in cmd[1:]), flush=True)
    start = time.time()
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    seconds = time.time() - start
    name = OmegaConf.load(os.path.join(REPO, "examples", "asr", CONFIG_DIR, config_name + ".yaml")).name
    return os.path.join(run_dir, "checkpoints", f"{name}.nemo"), seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(REPO, "demo_out"))
    p.add_argument("--retrain", action="store_true", help="train again even if demo_out holds a trained model")
    p.add_argument("--config", default="quartznet_demo", help=f"recipe in examples/asr/{CONFIG_DIR}")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    threads = torch_threads()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))

    banner("1/3 speech corpus (espeak-ng: several voices, rates and pitches; digit strings and short sentences)")
    from nemo.collections.asr.data.synth import EspeakNotFoundError, synthesize_corpus

    start = time.time()
    try:
        corpus = synthesize_corpus(os.path.join(a.out, "corpus"), **CORPUS)
    except EspeakNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"train/dev/test = {CORPUS['num_train']}/{CORPUS['num_dev']}/{CORPUS['num_test']} utterances in "
          f"{a.out}/corpus ({time.time() - start:.1f} s)", flush=True)

    nemo_file = os.path.join(a.out, "quartznet_demo.nemo")
    stamp_file = os.path.join(a.out, "quartznet_demo.json")
    config_file = os.path.join(REPO, "examples", "asr", CONFIG_DIR, a.config + ".yaml")
    with open(config_file, encoding="utf-8") as f:
        stamp = {"config": f.read(), "corpus": CORPUS}
    reuse = False
    if not a.retrain and os.path.exists(nemo_file) and os.path.exists(stamp_file):
        with open(stamp_file, encoding="utf-8") as f:
            reuse = json.load(f).get("stamp") == stamp

    if reuse:
        banner("2/3 training: skipped, reusing the model trained by an earlier run (--retrain to train again)")
        with open(stamp_file, encoding="utf-8") as f:
            print(f"{nemo_file} (trained in {json.load(f)['train_seconds']:.0f} s)", flush=True)
    else:
        banner(f"2/3 training a small QuartzNet on the CPU ({threads} thread(s); at most 10 minutes)")
        epochs = plan_epochs(config_file, corpus, threads)
        trained, seconds = train(a.out, corpus, env, epochs, a.config)
        shutil.copyfile(trained, nemo_file)
        with open(stamp_file, "w", encoding="utf-8") as f:
            json.dump({"stamp": stamp, "train_seconds": seconds}, f)
        print(f"Trained in {seconds / 60:.1f} min; saved {nemo_file}", flush=True)

    banner("3/3 restoring the .nemo in a fresh process and transcribing the test set")
    result = os.path.join(a.out, "test_transcripts.json")
    subprocess.run([sys.executable, TRANSCRIBE, nemo_file, corpus["test"], "--show", "12", "--json", result],
                   cwd=REPO, env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
