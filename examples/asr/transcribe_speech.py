"""Restore a CTC model from a .nemo file, transcribe a manifest's audio and print reference vs. hypothesis and the WER.

    python examples/asr/transcribe_speech.py model.nemo test_manifest.json [--batch-size 16] [--show 10] [--json out.json]
"""

import argparse
import json
import os
import sys
import time


def read_manifest(path):
    """(absolute audio paths, reference texts) of a NeMo JSON-lines manifest."""
    base = os.path.dirname(os.path.abspath(path))
    audio, refs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                audio.append(os.path.join(base, item["audio_filepath"]))
                refs.append(item.get("text", ""))
    return audio, refs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("nemo_file")
    p.add_argument("manifest")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--show", type=int, default=10, help="how many reference/hypothesis pairs to print (-1: all)")
    p.add_argument("--json", default=None, help="also write {wer, seconds, audio_seconds, pairs} here")
    a = p.parse_args(argv)

    from nemo.collections.asr.metrics.wer import word_error_rate
    from nemo.collections.asr.models import EncDecCTCModel
    from nemo.utils import logging

    logging.setLevel("ERROR")  # restore_from's notes about unset datasets would bury the transcripts

    start = time.time()
    model = EncDecCTCModel.restore_from(a.nemo_file, map_location="cpu")
    restore_s = time.time() - start
    audio, refs = read_manifest(a.manifest)
    start = time.time()
    hyps = [h.text for h in model.transcribe(audio, batch_size=a.batch_size, verbose=False)]
    seconds = time.time() - start

    import soundfile as sf

    audio_seconds = sum(sf.info(path).duration for path in audio)
    wer = word_error_rate(hyps, refs)
    shown = len(refs) if a.show < 0 else min(a.show, len(refs))
    for ref, hyp in list(zip(refs, hyps))[:shown]:
        mark = "  " if ref == hyp else "x "
        print(f"{mark}REF: {ref}\n  HYP: {hyp}")
    exact = sum(r == h for r, h in zip(refs, hyps))
    print(f"Restored {os.path.basename(a.nemo_file)} in {restore_s:.1f} s; transcribed {len(audio)} files "
          f"({audio_seconds:.0f} s of audio) in {seconds:.1f} s (real-time factor {seconds / audio_seconds:.3f})")
    print(f"Test WER: {100 * wer:.2f}% ({exact}/{len(refs)} utterances exactly right)")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"wer": wer, "seconds": seconds, "audio_seconds": audio_seconds,
                       "pairs": [{"ref": r, "hyp": h} for r, h in zip(refs, hyps)]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
