"""Fixtures shared by the collection tests: a tiny single-speaker espeak corpus (TTS and the hybrid ASR-TTS model)."""

import contextlib
import shutil

import pytest

SAMPLE_RATE = 22050


@contextlib.contextmanager
def torch_threads(n: int):
    """Run torch with `n` threads inside the block: on shared 2-core machines one thread is several times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tts_corpus(tmp_path_factory):
    """8 train + 2 dev sentences from one espeak-ng voice at 22.05 kHz (skipped without espeak-ng)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from nemo.collections.asr.data.synth import synthesize_corpus

    out = tmp_path_factory.mktemp("tts_corpus")
    return synthesize_corpus(str(out), num_train=8, num_dev=2, num_test=0, seed=3, sample_rate=SAMPLE_RATE,
                             single_speaker=True, digit_fraction=0.0, jobs=2)
