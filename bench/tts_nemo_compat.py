"""Do TTS `.nemo` files cross between NVIDIA NeMo 3.0.0 and this package with the same outputs?

    python bench/tts_nemo_compat.py --ref /tmp/nemo_ref/bin/python

Each library builds a seeded small FastPitch (ARPABET phonemes from a CMUdict-format dictionary packed as an
artifact) and HiFi-GAN from the example YAMLs and saves them; then each library restores all four files and runs
the same text and spectrogram in eval mode. One JSON line: token equality and max |difference| of spectrogram and
audio for each writer. NeMo's TTS models need `nltk` in the reference venv (`pip install nltk`).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(REPO, "examples", "tts", "conf")
TEXT = "The dog's news: John's cat reads well-known words!"
DICT_LINES = ["THE  DH AH0", "DOG  D AO1 G", "NEWS  N UW1 Z", "JOHN  JH AA1 N", "CAT  K AE1 T", "READ  R IY1 D",
              "WELL  W EH1 L", "KNOWN  N OW1 N", "WORD  W ER1 D"]


def _small_fastpitch(folder, manifest):
    """NeMo's FastPitch needs `train_ds` even to restore, so the model is built with a two-utterance corpus."""
    from omegaconf import OmegaConf

    import nemo

    dict_path = os.path.join(folder, "cmudict_small.txt")
    with open(dict_path, "w", encoding="latin-1") as f:
        f.write("\n".join(DICT_LINES) + "\n")
    cfg = OmegaConf.load(os.path.join(CONF, "fastpitch.yaml"))
    cfg.train_dataset = cfg.validation_datasets = manifest
    cfg.sup_data_path = os.path.join(folder, "sup_data")
    cfg.pitch_mean, cfg.pitch_std = 212.36, 68.53
    m = cfg.model
    m.symbols_embedding_dim = 32
    for name in ("input_fft", "output_fft"):
        m[name].n_layer, m[name].d_head, m[name].d_inner = 1, 16, 64
    m.duration_predictor.filter_size = m.pitch_predictor.filter_size = 32
    m.text_tokenizer._target_ = "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers.EnglishPhonemesTokenizer"
    m.text_tokenizer.g2p.phoneme_dict = dict_path
    for ds in (m.train_ds, m.validation_ds):
        ds.dataloader_params.batch_size = 2
        if not nemo.__file__.startswith(REPO):
            ds.dataset.pop("pitch_method")  # our option; NeMo's TTSDataset has no such argument
    m.pop("text_normalizer")
    m.pop("text_normalizer_call_kwargs")
    OmegaConf.resolve(cfg)
    return cfg.model


def _small_hifigan(manifest):
    """NeMo's HiFi-GAN also needs `train_ds` to restore; the same two utterances."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(os.path.join(CONF, "hifigan.yaml"))
    cfg.train_dataset = cfg.validation_datasets = manifest
    cfg.train_min_duration = cfg.val_min_duration = None
    cfg.train_n_segments = cfg.val_n_segments = 4096
    g = cfg.model.generator
    g.upsample_initial_channel, g.upsample_rates, g.upsample_kernel_sizes = 32, [8, 4], [16, 8]
    g.resblock_kernel_sizes, g.resblock_dilation_sizes = [3], [[1, 3, 5]]
    cfg.model.train_ds.dataloader_params.batch_size = cfg.model.validation_ds.dataloader_params.batch_size = 2
    OmegaConf.resolve(cfg)
    return cfg.model


def make(folder, manifest):
    """Build and save both models with whichever `nemo` this interpreter has."""
    import torch

    import nemo
    from nemo.collections.tts.models import FastPitchModel, HifiGanModel

    torch.manual_seed(0)
    FastPitchModel(cfg=_small_fastpitch(folder, manifest)).save_to(os.path.join(folder, "fastpitch.nemo"))
    torch.manual_seed(0)
    HifiGanModel(cfg=_small_hifigan(manifest)).save_to(os.path.join(folder, "hifigan.nemo"))
    return nemo.__file__


def run(folder, out_path):
    """Restore both models from `folder`; save tokens, spectrogram and audio for fixed inputs."""
    import numpy as np
    import torch

    import nemo
    from nemo.collections.tts.models import FastPitchModel, HifiGanModel

    fastpitch = FastPitchModel.restore_from(os.path.join(folder, "fastpitch.nemo"), map_location="cpu").eval()
    hifigan = HifiGanModel.restore_from(os.path.join(folder, "hifigan.nemo"), map_location="cpu").eval()
    spec_in = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 80, 24)).astype(np.float32))
    with torch.no_grad():
        tokens = fastpitch.parse(TEXT)
        spec = fastpitch.generate_spectrogram(tokens=tokens)
        audio = hifigan.convert_spectrogram_to_audio(spec=spec_in)
    np.savez(out_path, tokens=tokens.numpy(), spec=spec.numpy(), audio=audio.numpy(),
             table=np.array(fastpitch.vocab.tokens))
    return nemo.__file__


def _call(python, args, env, fail=True):
    cmd = [python, os.path.abspath(__file__), *args]
    out = subprocess.run(cmd, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        if fail:
            raise SystemExit(f"{python} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return None, out.stderr.strip().splitlines()[-1]
    return out.stdout.strip().splitlines()[-1], None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", default=None, help="python of a venv with nemo-toolkit==3.0.0 (and nltk) installed")
    p.add_argument("--keep", default=None, help="copy the .nemo files each library wrote into this folder")
    p.add_argument("--golden", default=None, help="write NeMo's FastPitch .nemo and its own outputs here (test data)")
    p.add_argument("--make", nargs=2, default=None, help=argparse.SUPPRESS)
    p.add_argument("--run", nargs=2, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.make:
        return print(make(*a.make))
    if a.run:
        return print(run(*a.run))
    if a.ref is None:
        p.error("--ref is required")
    import numpy as np

    pythons = {"ours": (sys.executable, dict(os.environ, PYTHONPATH=REPO)),
               "nemo": (a.ref, {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})}
    result = {"bench": "tts_nemo_compat", "text": TEXT}
    with tempfile.TemporaryDirectory() as tmp:
        from nemo.collections.asr.data.synth import synthesize_corpus

        manifest = synthesize_corpus(os.path.join(tmp, "corpus"), 2, 0, 0, seed=0, sample_rate=22050,
                                     single_speaker=True)["train"]
        with open(manifest, encoding="utf-8") as f:  # NeMo's TTSDataset reads audio paths as given
            items = [json.loads(line) for line in f if line.strip()]
        manifest = os.path.join(tmp, "train_abs.json")
        with open(manifest, "w", encoding="utf-8") as f:
            for item in items:
                item["audio_filepath"] = os.path.join(tmp, "corpus", item["audio_filepath"])
                f.write(json.dumps(item) + "\n")
        outs = {}
        for writer, (python, env) in pythons.items():
            folder = os.path.join(tmp, f"by_{writer}")
            os.makedirs(folder)
            made_by, _ = _call(python, ["--make", folder, manifest], env)
            if (writer == "nemo") == made_by.startswith(REPO):
                raise SystemExit(f"{writer} interpreter imported the wrong nemo: {made_by}")
            if a.keep:
                shutil.copytree(folder, os.path.join(a.keep, f"by_{writer}"), dirs_exist_ok=True)
            for reader, (rpython, renv) in pythons.items():
                out = os.path.join(tmp, f"{writer}_read_by_{reader}.npz")
                _, error = _call(rpython, ["--run", folder, out], renv, fail=False)
                outs[writer, reader] = error or dict(np.load(out))
        if a.golden and not isinstance(outs["nemo", "nemo"], str):
            os.makedirs(a.golden, exist_ok=True)
            shutil.copy(os.path.join(tmp, "by_nemo", "fastpitch.nemo"), os.path.join(a.golden, "nemo_fastpitch_small.nemo"))
            ref = outs["nemo", "nemo"]
            np.savez(os.path.join(a.golden, "nemo_fastpitch_small_outputs.npz"), text=np.array(TEXT),
                     tokens=ref["tokens"], spec=ref["spec"], table=ref["table"])
        for writer in pythons:
            ours, ref = outs[writer, "ours"], outs[writer, "nemo"]
            if isinstance(ours, str) or isinstance(ref, str):
                result[f"written_by_{writer}"] = {"error_ours": ours if isinstance(ours, str) else None,
                                                  "error_nemo": ref if isinstance(ref, str) else None}
                continue
            result[f"written_by_{writer}"] = {
                "same_token_table": bool(np.array_equal(ours["table"], ref["table"])),
                "same_tokens": bool(np.array_equal(ours["tokens"], ref["tokens"])),
                "num_tokens": int(ours["tokens"].shape[-1]),
                "spec_shape_equal": ours["spec"].shape == ref["spec"].shape,
                "spec_max_abs_diff": float(np.abs(ours["spec"] - ref["spec"]).max())
                if ours["spec"].shape == ref["spec"].shape else None,
                "audio_max_abs_diff": float(np.abs(ours["audio"] - ref["audio"]).max())
                if ours["audio"].shape == ref["audio"].shape else None,
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
