"""Import cost: `import nemo` loads nothing heavy; `import nemo.core` nothing beyond torch,
omegaconf, hydra and lightning.pytorch (compared in fresh interpreters)."""

import json
import subprocess
import sys


def modules_after(code: str) -> set:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_nemo_is_light():
    mods = modules_after("import nemo")
    heavy = {"torch", "lightning", "omegaconf", "hydra", "huggingface_hub", "numpy", "transformers"}
    assert not heavy & {m.split(".")[0] for m in mods}
    assert not any(m.startswith("nemo.collections") for m in mods)


def test_import_nemo_core_adds_nothing_beyond_its_dependencies():
    baseline = modules_after("import torch, omegaconf, hydra, lightning.pytorch")
    ours = modules_after("import nemo.core\nfrom nemo.core import ModelPT, NeuralModule, Exportable")
    extra = {m for m in ours - baseline if not m.startswith("nemo")}
    assert extra == set(), sorted(extra)
    assert not any(m.startswith("nemo.collections") for m in ours)


def test_import_asr_collection_is_lazy():
    mods = modules_after("import nemo.collections.asr")
    assert "nemo.collections.asr.models" not in mods
