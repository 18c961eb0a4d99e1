"""Do CTC `.nemo` files cross between this package and NVIDIA NeMo 3.0.0 with the same log-probs and transcripts?

    python bench/asr_nemo_compat.py --ref /tmp/nemo_ref/bin/python [--config quartznet_15x5] [--bpe]
        [--writer ours|nemo] [--nemo FILE]
    python bench/asr_nemo_compat.py --ref /tmp/nemo_ref/bin/python --jasper-options

`--jasper-options`: for every ConvASREncoder option group of tests/collections/asr/make_jasper_option_goldens.py,
this package builds, trains 4 steps, calibrates and saves the group's model; NeMo restores each archive and runs the
three espeak-ng utterances (padded batch, eval mode); one JSON line with the largest encoder-output and log-prob
differences per group against ours on both encoder paths.

The writer library saves a seeded model of the recipe (`--bpe`: EncDecCTCModelBPE with a 64-piece SentencePiece
tokenizer packed as artifacts), or --nemo names a file; both libraries restore it and run the same audio in eval
mode. One JSON line: max |log-prob difference|, length and greedy-token agreement, class built, decoded texts.
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
        hyps = model.decoding.ctc_decoder_predictions_tensor(log_probs, decoder_lengths=encoded_len)
    texts = [h if isinstance(h, str) else h.text for h in (hyps[0] if isinstance(hyps, tuple) else hyps)]
    np.savez(out_path, log_probs=log_probs.numpy(), encoded_len=encoded_len.numpy(), greedy=greedy.numpy(),
             texts=np.array(texts), model_class=np.array(type(model).__name__))
    return nemo.__file__


def build(config, tokenizer_dir, out_path):
    """Save a seeded model of the recipe (BPE when `tokenizer_dir`) with whichever `nemo` this interpreter has."""
    import torch
    from omegaconf import OmegaConf

    import nemo
    from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE

    torch.manual_seed(0)
    cfg = OmegaConf.load(os.path.join(CONF, config + ".yaml")).model
    cfg.train_ds.manifest_filepath = cfg.validation_ds.manifest_filepath = None
    if not tokenizer_dir:
        EncDecCTCModel(cfg=cfg).save_to(out_path)
        return nemo.__file__
    cfg.tokenizer = {"dir": tokenizer_dir, "type": "bpe"}
    cfg.pop("labels", None)
    cfg.decoder.vocabulary, cfg.decoder.num_classes = [], -1
    for ds in ("train_ds", "validation_ds", "test_ds"):
        if ds in cfg:
            cfg[ds].pop("labels", None)
    EncDecCTCModelBPE(cfg=cfg).save_to(out_path)
    return nemo.__file__


def _goldens_module():
    """make_jasper_option_goldens, imported by path so NeMo's interpreter does not put this repository first."""
    sys.path.insert(0, os.path.join(REPO, "tests", "collections", "asr"))
    import make_jasper_option_goldens

    return make_jasper_option_goldens


def options_worker(side, folder, tokenizer_dir):
    """`ours`: build and save every option group's model, record its outputs on both encoder paths; `nemo`: restore
    each saved archive and record its outputs. Whichever `nemo` this interpreter imports does the work."""
    import numpy as np
    import torch

    import nemo
    from nemo.core import ModelPT

    g = _goldens_module()
    wavs = os.path.join(REPO, "tests", "collections", "asr", "data", "jasper_options", "wav")
    for name in g.GROUPS:
        path = os.path.join(folder, f"{name}.nemo")
        if side == "ours":
            model = g.build(name, wavs, tokenizer_dir)
            model.save_to(path)
            model = ModelPT.restore_from(path, map_location="cpu").eval()
            for time_major in (True, False):
                model.encoder._time_major = time_major
                np.savez(os.path.join(folder, f"{name}.ours_{time_major}.npz"), **g.outputs(model, wavs))
        else:
            model = ModelPT.restore_from(path, map_location="cpu").eval()
            np.savez(os.path.join(folder, f"{name}.nemo.npz"), **g.outputs(model, wavs))
        torch.manual_seed(0)
    return nemo.__file__


def options_compare(folder, names):
    """Per group: max |diff| of encoder outputs and log-probs over valid frames, NeMo vs ours on each path."""
    import numpy as np

    rows, worst = {}, 0.0
    for name in names:
        ref = np.load(os.path.join(folder, f"{name}.nemo.npz"))
        row = {}
        for path, time_major in (("channels_last", True), ("ordinary", False)):
            ours = np.load(os.path.join(folder, f"{name}.ours_{time_major}.npz"))
            frames = np.arange(ours["log_probs"].shape[1])[None, :] < ours["encoded_len"][:, None]
            lp = float(np.abs(ours["log_probs"] - ref["log_probs"])[frames].max())
            enc = float(np.abs(ours["encoded"] - ref["encoded"]).max())
            row[path] = {"encoded": enc, "log_probs": lp}
            worst = max(worst, lp, enc)
        row["same_lengths"] = ours["encoded_len"].tolist() == ref["encoded_len"].tolist()
        row["lengths_here_nemo"] = [ours["encoded_len"].tolist(), ref["encoded_len"].tolist()]
        rows[name] = row
    return rows, worst


def run_options(ref_python):
    """Our archives of every option group restored in NeMo: one JSON line."""
    tmp = tempfile.mkdtemp(prefix="asr_options_")
    tokenizer_dir = _train_tokenizer(tmp)
    envs = {"ours": (sys.executable, dict(os.environ, PYTHONPATH=REPO)),
            "nemo": (ref_python, {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})}
    where = {}
    for side in ("ours", "nemo"):
        python, env = envs[side]
        out = subprocess.run([python, os.path.abspath(__file__), "--options-worker", side, tmp, tokenizer_dir],
                             cwd=tmp, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{side} failed on the option groups:\n{out.stderr[-3000:]}")
        where[side] = out.stdout.strip().splitlines()[-1]
    if os.path.realpath(where["nemo"]).startswith(REPO):
        raise SystemExit("--ref interpreter imported this repository's nemo, not NVIDIA's")
    names = list(_goldens_module().GROUPS)
    rows, worst = options_compare(tmp, names)
    print(json.dumps({"bench": "asr_nemo_compat", "mode": "jasper_options", "written_by": "ours",
                      "restored_by": "nemo 3.0.0", "groups": len(rows), "max_abs_diff": worst,
                      "all_within_1e-4": worst < 1e-4,
                      "lengths_differ": [n for n, r in rows.items() if not r["same_lengths"]], "per_group": rows}))
    return 0


def _train_tokenizer(folder):
    """A 64-piece SentencePiece BPE model over the synthesiser's sentences, as NeMo's tokenizer script writes it."""
    import numpy as np

    from nemo.collections.asr.data.synth.text import utterance_text
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    rng = np.random.default_rng(0)
    lines = [utterance_text(rng) for _ in range(400)]
    path = os.path.join(folder, "text.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(folder, "tokenizer_spe_bpe_v64")
    create_spt_model(path, 64, -1, True, tokenizer_type="bpe", output_dir=out)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", required=False, default="/tmp/nemo_ref/bin/python")
    p.add_argument("--config", default="quartznet_demo", help="recipe under examples/asr/conf/quartznet")
    p.add_argument("--nemo", default=None, help="an existing .nemo written by this project (default: save a new one)")
    p.add_argument("--bpe", action="store_true", help="an EncDecCTCModelBPE with a SentencePiece tokenizer instead")
    p.add_argument("--writer", choices=("ours", "nemo"), default="ours", help="which library builds and saves it")
    p.add_argument("--jasper-options", action="store_true",
                   help="every ConvASREncoder option group, written here and restored in NeMo")
    p.add_argument("--options-worker", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--build", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(outputs(*a.worker))
        return
    if a.build:
        print(build(*a.build))
        return
    if a.options_worker:
        print(options_worker(*a.options_worker))
        return
    if a.jasper_options:
        return run_options(a.ref)
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="asr_compat_")
    envs = {"ours": (sys.executable, dict(os.environ, PYTHONPATH=REPO)),
            "nemo": (a.ref, {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})}
    nemo_path = os.path.abspath(a.nemo) if a.nemo else None
    if nemo_path is None:
        nemo_path = os.path.join(tmp, f"{a.config}{'_bpe' if a.bpe else ''}_by_{a.writer}.nemo")
        tokenizer_dir = _train_tokenizer(tmp) if a.bpe else ""
        python, env = envs[a.writer]
        out = subprocess.run([python, os.path.abspath(__file__), "--build", a.config, tokenizer_dir, nemo_path],
                             cwd=tmp, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{a.writer} could not build the model:\n{out.stderr[-3000:]}")
    # Two utterances of speech-like noise: a chirp plus noise, the second one shorter (padded).
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000.0
    audio = (0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t) + 0.05 * rng.standard_normal(32000)).astype(np.float32)
    np.save(os.path.join(tmp, "audio.npy"), np.stack([audio, audio[::-1].copy()]))

    results = {}
    for name, (python, env) in envs.items():
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
                      "written_by": "given" if a.nemo else a.writer,
                      "encoded_len": ours["encoded_len"].tolist(), "same_lengths": same_len,
                      "max_abs_logprob_diff": diff,
                      "greedy_agreement": float((ours["greedy"] == ref["greedy"])[mask].mean()) if same_len else None,
                      "class_here_and_in_nemo": [str(ours["model_class"]), str(ref["model_class"])],
                      "same_texts": ours["texts"].tolist() == ref["texts"].tolist(), "texts": ours["texts"].tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
