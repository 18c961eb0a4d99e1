"""Does a .nemo written by our EncDecCTCModel restore in NVIDIA NeMo 3.0.0 with the same log-probs?

    python bench/asr_nemo_compat.py --ref /tmp/nemo_ref/bin/python [--config quartznet_15x5] [--nemo FILE]

Saves a seeded model of the given recipe (or uses --nemo), runs the same audio through it in eval mode here and
in NeMo, and prints one JSON line: max |log-prob difference|, length and greedy-token agreement, transcripts.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(REPO, "examples", "asr", "conf", "quartznet")


def outputs(nemo_path, audio_path, out_path):
    """Restore with whichever `nemo` this interpreter has; save log-probs and lengths of `audio_path` to .npz."""
    import numpy as np
    import torch

    import nemo
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(nemo_path, map_location="cpu")
    model.eval()
    audio = np.load(audio_path)
    lengths = torch.tensor([audio.shape[1], audio.shape[1] * 3 // 4])
    signal = torch.from_numpy(audio).clone()
    signal[1, lengths[1]:] = 0.0
    with torch.no_grad():
        log_probs, encoded_len, greedy = model(input_signal=signal, input_signal_length=lengths)
    np.savez(out_path, log_probs=log_probs.numpy(), encoded_len=encoded_len.numpy(), greedy=greedy.numpy())
    return nemo.__file__


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", required=False, default="/tmp/nemo_ref/bin/python")
    p.add_argument("--config", default="quartznet_demo", help="recipe under examples/asr/conf/quartznet")
    p.add_argument("--nemo", default=None, help="an existing .nemo written by this project (default: save a new one)")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(outputs(*a.worker))
        return
    import numpy as np
    import torch
    from omegaconf import OmegaConf

    from nemo.collections.asr.models import EncDecCTCModel

    tmp = tempfile.mkdtemp(prefix="asr_compat_")
    nemo_path = os.path.abspath(a.nemo) if a.nemo else None
    if nemo_path is None:
        torch.manual_seed(0)
        cfg = OmegaConf.load(os.path.join(CONF, a.config + ".yaml")).model
        cfg.train_ds.manifest_filepath = cfg.validation_ds.manifest_filepath = None
        nemo_path = os.path.join(tmp, f"{a.config}.nemo")
        EncDecCTCModel(cfg=cfg).save_to(nemo_path)
    # Two utterances of speech-like noise: a chirp plus noise, the second one shorter (padded).
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000.0
    audio = (0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t) + 0.05 * rng.standard_normal(32000)).astype(np.float32)
    np.save(os.path.join(tmp, "audio.npy"), np.stack([audio, audio[::-1].copy()]))

    results = {}
    for name, python in (("ours", sys.executable), ("nemo", a.ref)):
        env = dict(os.environ, PYTHONPATH=REPO) if name == "ours" else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run([python, os.path.abspath(__file__), "--worker", nemo_path, os.path.join(tmp, "audio.npy"),
                              os.path.join(tmp, f"{name}.npz")], cwd=tmp, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(json.dumps({"bench": "asr_nemo_compat", "restores_in_nemo": False, "side": name,
                              "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "?"}))
            return 1
        results[name] = (out.stdout.strip().splitlines()[-1], np.load(os.path.join(tmp, f"{name}.npz")))
    if os.path.realpath(results["nemo"][0]).startswith(REPO):
        raise SystemExit("--ref interpreter imported this repository's nemo, not NVIDIA's")
    ours, ref = results["ours"][1], results["nemo"][1]
    same_len = bool((ours["encoded_len"] == ref["encoded_len"]).all())
    mask = np.zeros(ours["greedy"].shape, dtype=bool)
    for i, n in enumerate(ours["encoded_len"]):
        mask[i, :n] = True
    diff = float(np.abs(ours["log_probs"] - ref["log_probs"])[mask].max()) if same_len else None
    print(json.dumps({"bench": "asr_nemo_compat", "restores_in_nemo": True, "nemo": os.path.basename(nemo_path),
                      "encoded_len": ours["encoded_len"].tolist(), "same_lengths": same_len,
                      "max_abs_logprob_diff": diff,
                      "greedy_agreement": float((ours["greedy"] == ref["greedy"])[mask].mean()) if same_len else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
