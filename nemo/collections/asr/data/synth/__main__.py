"""CLI: synthesise train/dev/test manifests with espeak-ng (see `--help`)."""

import argparse
import sys
import time


def main(argv=None) -> int:
    from nemo.collections.asr.data.synth.corpus import synthesize_corpus
    from nemo.collections.asr.data.synth.espeak import EspeakNotFoundError

    p = argparse.ArgumentParser(prog="python -m nemo.collections.asr.data.synth", description="Synthesise an English ASR corpus with espeak-ng.")
    p.add_argument("--out", required=True, help="output folder (wavs/ and *_manifest.json)")
    p.add_argument("--num-train", type=int, default=1200)
    p.add_argument("--num-dev", type=int, default=150)
    p.add_argument("--num-test", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--single-speaker", action="store_true", help="one voice at a fixed rate and pitch (for TTS)")
    p.add_argument("--voice", action="append", default=None, help="voice(s) to use, e.g. en-us+m3 (repeatable)")
    p.add_argument("--jobs", type=int, default=None, help="parallel espeak-ng processes (default: up to 4)")
    p.add_argument("--digit-fraction", type=float, default=0.4, help="share of digit strings (the rest are sentences)")
    p.add_argument("--force", action="store_true", help="regenerate even if DIR holds a corpus made with the same arguments")
    a = p.parse_args(argv)
    start = time.time()
    try:
        manifests = synthesize_corpus(
            a.out, a.num_train, a.num_dev, a.num_test, seed=a.seed, sample_rate=a.sample_rate,
            single_speaker=a.single_speaker, voices=a.voice, jobs=a.jobs, force=a.force,
            digit_fraction=a.digit_fraction,
        )
    except EspeakNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total = a.num_train + a.num_dev + a.num_test
    print(f"Corpus of {total} utterances ready in {time.time() - start:.1f} s:")
    for split, path in manifests.items():
        print(f"  {split}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
