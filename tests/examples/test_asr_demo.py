"""examples/demo.py (what `make demo` runs) on a tiny corpus: trains, saves, restores in a fresh process; reruns reuse."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_demo():
    spec = importlib.util.spec_from_file_location("asr_demo", REPO / "examples" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


@pytest.mark.slow
def test_demo_trains_restores_and_reuses(tmp_path, monkeypatch, capfd):
    demo = _load_demo()
    try:
        from nemo.collections.asr.data.synth.espeak import espeak_path

        espeak_path()
    except Exception as err:
        pytest.skip(f"espeak-ng missing: {err}")
    monkeypatch.setattr(demo, "CORPUS", dict(num_train=4, num_dev=2, num_test=2, seed=0))
    monkeypatch.setattr(demo, "plan_epochs", lambda *args: 1)
    assert demo.main(["--out", str(tmp_path)]) == 0
    first = capfd.readouterr().out
    assert "2/3 training a small QuartzNet" in first and "Trained in" in first
    assert (tmp_path / "quartznet_demo.nemo").is_file()
    assert "REF: " in first and "HYP: " in first and "Test WER: " in first
    assert "Restored quartznet_demo.nemo" in first  # by transcribe_speech.py, a separate process

    assert demo.main(["--out", str(tmp_path)]) == 0
    second = capfd.readouterr().out
    assert "training: skipped, reusing the model" in second and "Trained in" not in second
    assert "Test WER: " in second
