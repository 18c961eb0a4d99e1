"""Import time of `import nemo.collections.asr` and `from nemo.collections.asr.models import EncDecCTCModel` in fresh
interpreters, against `import lightning.pytorch` in the same interpreter; with --ref, NVIDIA NeMo's as well.

    python bench/asr_import.py [--repeats 5] [--ref /tmp/nemo_ref/bin/python]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATEMENTS = {
    "lightning": "import lightning.pytorch",
    "asr": "import nemo.collections.asr",
    "model": "from nemo.collections.asr.models import EncDecCTCModel",
}
# CPU seconds (user+sys of every thread) and wall seconds of the import; CPU time barely moves when other processes
# load the machine, wall time can triple.
TIMED = ("import time, sys; c, t = time.process_time(), time.perf_counter(); {stmt}; "
         "print(time.process_time() - c, time.perf_counter() - t); sys.stdout.flush()")
WHERE = "import nemo, sys; print(nemo.__file__); sys.stdout.flush()"


def _run(python, code, env):
    out = subprocess.run([python, "-c", code], cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True,
                         check=True).stdout
    return out.strip().splitlines()[-1]


def measure(python, repeats, env):
    """Best-of-`repeats` CPU and wall seconds per statement, each timed in its own fresh interpreter."""
    cpu = {name: [] for name in STATEMENTS}
    wall = {name: [] for name in STATEMENTS}
    for _ in range(repeats):  # interleaved so a burst of load hits every statement alike
        for name, stmt in STATEMENTS.items():
            c, w = _run(python, TIMED.format(stmt=stmt), env).split()
            cpu[name].append(float(c))
            wall[name].append(float(w))
    best = {name: round(min(values), 3) for name, values in cpu.items()}
    return {"python": python, "nemo_file": _run(python, WHERE, env), "cpu_s": best,
            "wall_s": {name: round(min(values), 3) for name, values in wall.items()},
            "asr_minus_lightning": round(best["asr"] - best["lightning"], 3),
            "model_minus_lightning": round(best["model"] - best["lightning"], 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--ref", default=None, help="python of a venv with nemo-toolkit==3.0.0 installed")
    a = p.parse_args()
    ours_env = dict(os.environ, PYTHONPATH=REPO)
    ref_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = {"bench": "asr_import", "load": round(os.getloadavg()[0], 2), "ours": measure(sys.executable, a.repeats, ours_env)}
    if a.ref:
        ref = measure(a.ref, a.repeats, ref_env)
        if os.path.realpath(ref["nemo_file"]).startswith(REPO):
            raise SystemExit("--ref interpreter imported this repository's nemo, not NVIDIA's")
        result["nemo"] = ref
        result["ratio_model_cpu_nemo_over_ours"] = round(ref["cpu_s"]["model"] / result["ours"]["cpu_s"]["model"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
