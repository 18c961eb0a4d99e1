"""EncDecCTCModel.transcribe: input forms, input order, restored model state, no temp files (spec §2.4)."""

import json
import os
import tempfile

import numpy as np
import pytest
import soundfile as sf
import torch

from nemo.collections.asr.models import EncDecCTCModel


@pytest.fixture(scope="module")
def model():
    from tests.conftest import GOLDEN

    return EncDecCTCModel.restore_from(str(GOLDEN / "quartznet_small_nemo.nemo"))


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(1)
    arrays = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 4000, 9000, 12000, 6000)]
    paths = []
    for i, a in enumerate(arrays):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, a, 16000, subtype="FLOAT")
        paths.append(str(path))
    return arrays, paths


def _one_by_one(model, arrays):
    texts = []
    model.eval()
    with torch.no_grad():
        for a in arrays:
            log_probs, n, _ = model(input_signal=torch.from_numpy(a)[None], input_signal_length=torch.tensor([len(a)]))
            texts.append(model.decoding.ctc_decoder_predictions_tensor(log_probs, n)[0].text)
    return texts


def test_results_in_input_order_and_state_restored(model, clips):
    arrays, paths = clips
    model.train()
    model.preprocessor.featurizer.pad_to = 0  # so that one-by-one runs see the same unpadded features
    try:
        expected = _one_by_one(model, arrays)
    finally:
        model.preprocessor.featurizer.pad_to = 16
    model.train()
    before = set(os.listdir(tempfile.gettempdir()))
    mixed = [paths[0], arrays[1], paths[2], arrays[3], paths[4]]
    hyps = model.transcribe(mixed, batch_size=2, verbose=False)
    assert set(os.listdir(tempfile.gettempdir())) == before
    assert [h.text for h in hyps] == expected
    assert all(isinstance(h.y_sequence, torch.Tensor) and h.y_sequence.dtype == torch.long for h in hyps)
    assert model.training and model.encoder.training
    assert model.preprocessor.featurizer.dither == pytest.approx(1e-5)
    assert model.preprocessor.featurizer.pad_to == 16
    assert all(p.requires_grad for p in model.parameters())


def test_manifest_arrays_and_hypotheses(model, clips, tmp_path):
    arrays, paths = clips
    manifest = tmp_path / "list.json"
    manifest.write_text("\n".join(json.dumps({"audio_filepath": os.path.basename(p), "duration": 100000, "text": ""})
                                  for p in paths) + "\n")
    from_manifest = model.transcribe(str(manifest), batch_size=3, verbose=False)
    from_files = model.transcribe(paths, batch_size=5, verbose=False)
    from_tensors = model.transcribe([torch.from_numpy(a) for a in arrays], verbose=False)
    assert [h.text for h in from_manifest] == [h.text for h in from_files] == [h.text for h in from_tensors]

    full = model.transcribe(arrays[0], return_hypotheses=True, verbose=False)[0]
    assert full.y_sequence.shape == (50, 29)  # the log-prob matrix of the 50 valid frames
    torch.testing.assert_close(full.y_sequence.exp().sum(-1), torch.ones(50))
    with pytest.raises(ValueError):
        model.transcribe([np.zeros((2, 100), dtype=np.float32)], verbose=False)
    assert model.transcribe([], verbose=False) == []


def test_timestamps_in_seconds(model, clips):
    arrays, _ = clips
    hyp = model.transcribe([arrays[0]], timestamps=True, verbose=False)[0]
    assert model.cfg.decoding.compute_timestamps is True
    words = hyp.timestamp["word"]
    assert " ".join(w["word"] for w in words) == hyp.text
    for w in words:  # 20 ms per encoder frame: window_stride 0.01 x subsampling 2
        assert w["start"] == pytest.approx(w["start_offset"] * 0.02)
        assert w["end"] == pytest.approx(w["end_offset"] * 0.02)
    model.transcribe([arrays[0]], timestamps=False, verbose=False)
    assert model.cfg.decoding.compute_timestamps is False
