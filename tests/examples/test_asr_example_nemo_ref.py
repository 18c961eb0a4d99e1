"""A .nemo written by our EncDecCTCModel restores in NVIDIA NeMo 3.0.0 with the same log-probs (needs /tmp/nemo_ref)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEMO_REF = os.environ.get("NEMO_REF_PYTHON", "/tmp/nemo_ref/bin/python")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(NEMO_REF), reason="no NVIDIA NeMo 3.0.0 venv at /tmp/nemo_ref (see bench/README.md)")
def test_our_nemo_file_restores_in_nvidia_nemo_with_same_log_probs():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "asr_nemo_compat.py"), "--ref", NEMO_REF],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["restores_in_nemo"] and result["same_lengths"]
    assert result["max_abs_logprob_diff"] < 1e-4
    assert result["greedy_agreement"] == 1.0
