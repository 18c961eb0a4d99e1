"""Issue 8 item 5: does the trained TTS speak? ASR(TTS(text)) WER on held-out sentences vs WER on espeak audio.

    python examples/tts/quality_run.py --fastpitch FastPitch.nemo --asr demo_out/quartznet_demo.nemo \
        --corpus bench/out/tts/corpus --out bench/out/tts/quality

For each test sentence not in the training manifest: FastPitch mel -> Griffin-Lim audio (or `--hifigan X.nemo`)
-> 16 kHz wav -> ASR transcript. Also transcribed: the original espeak audio (the ceiling) and Griffin-Lim on the
*target* mel of that audio (what the vocoder alone loses). Writes wavs, a predicted-vs-target mel PNG and
results.json under --out.
"""

import argparse
import json
import os
import time

import numpy as np
import torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fastpitch", required=True, help=".nemo of a trained FastPitchModel")
    p.add_argument("--asr", required=True, help=".nemo of an ASR model (e.g. the one `make demo` trains)")
    p.add_argument("--corpus", required=True, help="folder with train_manifest.json and test_manifest.json")
    p.add_argument("--out", required=True)
    p.add_argument("--hifigan", default=None, help="optional .nemo of a HifiGanModel (default: Griffin-Lim)")
    p.add_argument("--gl-iters", type=int, default=60)
    p.add_argument("--max-sentences", type=int, default=40)
    a = p.parse_args(argv)
    torch.set_num_threads(1 if os.getloadavg()[0] > (os.cpu_count() or 1) - 0.5 else (os.cpu_count() or 1))

    import soundfile as sf

    from nemo.collections.asr.metrics.wer import word_error_rate
    from nemo.collections.asr.models import ASRModel
    from nemo.collections.asr.parts.preprocessing.segment import resample
    from nemo.collections.tts.data.dataset import load_audio, read_tts_manifest
    from nemo.collections.tts.models import FastPitchModel, GriffinLimModel, HifiGanModel
    from nemo.collections.tts.parts.utils import plot_spectrograms

    os.makedirs(os.path.join(a.out, "wavs"), exist_ok=True)
    fastpitch = FastPitchModel.restore_from(a.fastpitch).eval()
    asr = ASRModel.restore_from(a.asr).eval()
    asr_sr = asr.cfg.sample_rate if "sample_rate" in asr.cfg else asr.cfg.preprocessor.sample_rate
    feat = fastpitch.preprocessor.featurizer
    sr = feat.sample_rate
    if a.hifigan:
        vocoder, vocoder_name = HifiGanModel.restore_from(a.hifigan).eval(), "hifigan"
    else:
        vocoder_name = "griffin-lim"
        vocoder = GriffinLimModel({"sample_rate": sr, "n_fft": feat.n_fft, "l_hop": feat.hop_length,
                                   "win_length": feat.win_length, "n_mels": feat.nfilt, "n_iters": a.gl_iters,
                                   "highfreq": fastpitch.cfg.preprocessor.get("highfreq"),
                                   "lowfreq": fastpitch.cfg.preprocessor.get("lowfreq", 0)})

    train_texts = {e["text"] for e in read_tts_manifest(os.path.join(a.corpus, "train_manifest.json"))}
    test = [e for e in read_tts_manifest(os.path.join(a.corpus, "test_manifest.json")) if e["text"] not in train_texts]
    test = test[: a.max_sentences]

    def save(path, audio):
        audio = resample(np.asarray(audio, dtype=np.float32), sr, asr_sr) if sr != asr_sr else audio
        audio = audio / max(1e-3, float(np.abs(audio).max())) * 0.9
        sf.write(path, audio, asr_sr, subtype="PCM_16")
        return path

    paths = {"espeak": [], "vocoder_on_target_mel": [], "tts": []}
    start = time.time()
    for i, e in enumerate(test):
        audio = load_audio(e["audio_filepath"], sr)
        with torch.no_grad():
            target, target_len = fastpitch.preprocessor(input_signal=torch.from_numpy(audio)[None],
                                                        length=torch.tensor([len(audio)]))
            target = target[..., : int(target_len)]
            spec, spec_len = fastpitch.generate_spectrogram_with_lengths(tokens=fastpitch.parse(e["text"]))
            spec = spec[..., : int(spec_len[0])]
            tts_audio = vocoder.convert_spectrogram_to_audio(spec=spec)[0].numpy()
            copy_audio = vocoder.convert_spectrogram_to_audio(spec=target)[0].numpy()
        paths["espeak"].append(save(os.path.join(a.out, "wavs", f"{i:03d}_espeak.wav"), audio))
        paths["vocoder_on_target_mel"].append(save(os.path.join(a.out, "wavs", f"{i:03d}_copy.wav"), copy_audio))
        paths["tts"].append(save(os.path.join(a.out, "wavs", f"{i:03d}_tts.wav"), tts_audio))
        if i == 0:
            plot_spectrograms(os.path.join(a.out, "mel_predicted_vs_target.png"),
                              {f"target (espeak): {e['text']}": target[0], "predicted (FastPitch)": spec[0]})
            sf.write(os.path.join(a.out, "sample_tts.wav"), tts_audio / max(1e-3, np.abs(tts_audio).max()) * 0.9, sr)
    synth_s = time.time() - start
    refs = [e["text"] for e in test]
    results = {"sentences": len(test), "vocoder": vocoder_name, "synthesis_seconds": round(synth_s, 1),
               "fastpitch": a.fastpitch, "asr": a.asr, "examples": []}
    hyps_all = {}
    for name, files in paths.items():
        hyps = asr.transcribe(files, batch_size=8, verbose=False)
        hyps = [h if isinstance(h, str) else h.text for h in hyps]
        hyps_all[name] = hyps
        results[f"wer_{name}"] = round(word_error_rate(hyps, refs), 4)
    for i in range(min(5, len(test))):
        results["examples"].append({"ref": refs[i], **{name: hyps_all[name][i] for name in hyps_all}})
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
