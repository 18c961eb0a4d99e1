"""A FastPitch `.nemo` written by NVIDIA NeMo 3.0.0 (ARPABET tokenizer with its dictionary packed as an artifact;
written by `bench/tts_nemo_compat.py --golden`) restores here and speaks exactly as it did in NeMo."""

from pathlib import Path

import numpy as np
import torch

from nemo.collections.tts.models import FastPitchModel

DATA = Path(__file__).parent / "data"


def test_nemo_written_fastpitch_restores_with_identical_output():
    expected = np.load(DATA / "nemo_fastpitch_small_outputs.npz")
    model = FastPitchModel.restore_from(str(DATA / "nemo_fastpitch_small.nemo"), map_location="cpu").eval()
    assert list(model.vocab.tokens) == expected["table"].tolist()
    tokens = model.parse(str(expected["text"]))
    assert tokens.tolist() == expected["tokens"].tolist()
    with torch.no_grad():
        spec = model.generate_spectrogram(tokens=tokens)
    assert spec.shape == expected["spec"].shape
    np.testing.assert_allclose(spec.numpy(), expected["spec"], atol=1e-5, rtol=0)
