"""`transcribe()` of 1/5/10-minute files with a FastConformer-CTC of stt_en_fastconformer_ctc_large size: peak RSS and
time, ours (chunked default, one pass with full attention, one pass with local attention) against NVIDIA NeMo 3.0.0
(one pass with full attention, its default; one pass with local attention) in one run.

    python bench/asr_fastconformer_long_audio.py [--minutes 1,5,10] [--ref /tmp/nemo_ref/bin/python] [--rss-cap-gb 12]

The model (115M parameters, seeded, untrained) is saved here once; both libraries restore that file. Audio is
espeak-ng speech end to end. Each case runs in a fresh process: restore, a 10 s warm-up, then the long file;
`peak_mb` is the process's VmHWM over that transcribe (reset before it), `extra_mb` that minus the RSS before it.
Local attention is `change_attention_model("rel_pos_local_attn", [128, 128])` (NeMo's long-audio recipe).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastconformer_common import OUT, REPO, build_ctc, long_wav, machine, run_worker, speech_files, status_kb  # noqa: E402

CASES_OURS = ("chunked", "full", "local")


def worker(a):
    import torch

    torch.set_num_threads(a.threads)
    import nemo
    from nemo.collections.asr.models import ASRModel

    model = ASRModel.restore_from(a.nemo, map_location="cpu")
    model.eval()
    ours = os.path.realpath(nemo.__file__).startswith(REPO)
    if a.case == "local":
        model.change_attention_model("rel_pos_local_attn", [128, 128])
    kwargs = {"batch_size": 1, "verbose": False}
    if ours and a.case != "chunked":
        kwargs["chunk_duration_s"] = None  # one pass over the whole file (NeMo's transcribe has no chunking)
    model.transcribe([a.warm], **kwargs)
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # reset VmHWM, so the peak is this call's
    except OSError:
        pass
    before = status_kb("VmRSS")
    cpu, start = time.process_time(), time.perf_counter()
    hyp = model.transcribe([a.wav], **kwargs)[0]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = status_kb("VmHWM")
    text = hyp if isinstance(hyp, str) else hyp.text
    print(json.dumps({"nemo_file": nemo.__file__, "seconds": round(wall, 1), "cpu_s": round(cpu, 1),
                      "rss_before_mb": round(before / 1024), "peak_mb": round(peak / 1024),
                      "extra_mb": round((peak - before) / 1024), "chars": len(text)}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", default="1,5,10")
    p.add_argument("--ref", default=None, help="python of a venv with nemo-toolkit==3.0.0")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rss-cap-gb", type=float, default=12.0, help="stop a worker whose RSS passes this")
    p.add_argument("--cases", default="ours:chunked,ours:full,ours:local,nemo:full,nemo:local")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--nemo", default=os.path.join(OUT, "fastconformer_ctc_large_untrained.nemo"))
    p.add_argument("--case", default="chunked", help=argparse.SUPPRESS)
    p.add_argument("--wav", help=argparse.SUPPRESS)
    p.add_argument("--warm", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    params = build_ctc("large", a.nemo)
    warm = long_wav(10 / 60)
    result = {"bench": "asr_fastconformer_long_audio", **machine(), "model": os.path.basename(a.nemo),
              "threads": a.threads, "rss_cap_gb": a.rss_cap_gb, "ours": {}, "nemo": {}}
    if params > 0:
        result["params"] = params
    script = os.path.abspath(__file__)
    cases = set(a.cases.split(","))
    for minutes in [float(m) for m in a.minutes.split(",") if m]:
        wav = long_wav(minutes)
        key = f"{minutes:g}min"
        for case in CASES_OURS:
            for side, python in (("ours", sys.executable), ("nemo", a.ref)):
                if not python or f"{side}:{case}" not in cases:
                    continue
                run = run_worker(python, script, ["--nemo", a.nemo, "--case", case, "--wav", wav, "--warm", warm,
                                                  "--threads", a.threads], a.rss_cap_gb)
                result[side].setdefault(case, {})[key] = run
                print(json.dumps({"progress": f"{side} {case} {key}", **run}), file=sys.stderr)
    for side in ("ours", "nemo"):
        for runs in result[side].values():
            for run in runs.values():
                run.pop("nemo_file", None)
    result["load_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
