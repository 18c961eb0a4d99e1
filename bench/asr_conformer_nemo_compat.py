"""Do Conformer/FastConformer CTC `.nemo` files written by this package restore in NVIDIA NeMo 3.0.0 with our outputs?

    .venv/bin/python bench/asr_conformer_nemo_compat.py --ref /tmp/nemo_ref/bin/python

This package builds, trains 4 steps and BatchNorm-calibrates every option group of
tests/collections/asr/make_conformer_goldens.py, saves each `.nemo` with the batch's features, encoder outputs,
log-probs and greedy ids; it also restores NeMo's own fc_ctc_bpe.nemo (FastConformer-CTC, BPE) and saves it again.
Then NeMo's interpreter restores every archive (`make_conformer_goldens.py check`) and compares with our outputs.
One JSON line: per group the largest |difference| of features, encoder outputs and log-probs, and whether lengths
and greedy ids are identical.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(REPO, "tests", "collections", "asr", "make_conformer_goldens.py")
FC = os.path.join(REPO, "tests", "collections", "asr", "data", "fastconformer")


def write_ours(folder):
    """Our archives and outputs (run with this package)."""
    import numpy as np

    sys.path.insert(0, os.path.dirname(RECIPE))
    import make_conformer_goldens as recipe

    from nemo.collections.asr.models import EncDecCTCModelBPE

    recipe.write(folder, full_size=False)
    meta_path = os.path.join(folder, "groups.json")
    meta = json.load(open(meta_path, encoding="utf-8"))
    fc = EncDecCTCModelBPE.restore_from(os.path.join(FC, "fc_ctc_bpe.nemo"), map_location="cpu").eval()
    fc.save_to(os.path.join(folder, "fc_ctc_bpe_resaved_by_ours.nemo"))
    np.savez_compressed(os.path.join(folder, "fc_ctc_bpe_resaved_by_ours.npz"), **recipe.outputs(fc))
    meta["groups"]["fc_ctc_bpe_resaved_by_ours"] = {"bpe": True, "archive": "fc_ctc_bpe_resaved_by_ours.nemo"}
    json.dump(meta, open(meta_path, "w", encoding="utf-8"), indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="/tmp/nemo_ref/bin/python", help="NVIDIA NeMo 3.0.0's interpreter")
    ap.add_argument("--write-ours", metavar="DIR", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.write_ours:
        write_ours(a.write_ours)
        return
    folder = tempfile.mkdtemp(prefix="conformer_compat_")
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    subprocess.run([sys.executable, os.path.abspath(__file__), "--write-ours", folder], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nemo_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    out = subprocess.run([a.ref, RECIPE, "check", folder], env=nemo_env, capture_output=True, text=True, cwd="/")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"NeMo's check produced no result (rc {out.returncode}): {out.stderr[-2000:]}")
    results = json.loads(lines[-1])
    worst = max(max(r["max_abs_diff"].values()) for r in results.values())
    print(json.dumps({"bench": "asr_conformer_nemo_compat", "written_by": "ours", "restored_by": "nemo 3.0.0",
                      "groups": len(results), "all_ok": all(r["ok"] for r in results.values()),
                      "worst_max_abs_diff": worst, "results": results}))


if __name__ == "__main__":
    main()
