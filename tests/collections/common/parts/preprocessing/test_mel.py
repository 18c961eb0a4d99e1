"""Mel filters: identical to the ones NeMo (librosa) stored in a FastPitch archive; norm options."""

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nemo.collections.common.parts.preprocessing.mel import mel_filterbank

ARCHIVE = Path(__file__).resolve().parents[3] / "tts" / "data" / "nemo_fastpitch_small.nemo"


def _nemo_filters():
    with tarfile.open(ARCHIVE) as tar:
        cfg = yaml.safe_load(tar.extractfile("./model_config.yaml"))["preprocessor"]
        weights = torch.load(io.BytesIO(tar.extractfile("./model_weights.ckpt").read()), weights_only=True)
    return cfg, weights["preprocessor.featurizer.fb"][0].numpy()


def test_matches_the_filters_nemo_wrote():
    cfg, expected = _nemo_filters()
    fb = mel_filterbank(cfg["sample_rate"], cfg["n_fft"], cfg["features"], cfg["lowfreq"], cfg["highfreq"])
    assert fb.dtype == np.float32 and fb.shape == expected.shape == (80, 513)
    np.testing.assert_allclose(fb, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("norm, expected_norm", [(None, None), (1, 1.0), (2, 2.0), ("inf", np.inf)])
def test_unnormalised_triangles_peak_below_one_and_norms_hold(norm, expected_norm):
    fb = mel_filterbank(16000, 512, 40, norm=norm)
    assert (fb >= 0).all() and (fb.max(axis=1) > 0).all()
    if expected_norm is None:
        assert fb.max() <= 1.0
    else:
        np.testing.assert_allclose(np.linalg.norm(fb, ord=expected_norm, axis=1), 1.0, rtol=1e-5)
