"""A FastConformer-CTC .nemo that NVIDIA NeMo 3.0.0 wrote restores here with NeMo's keys and numbers."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nemo.collections.asr.models import EncDecCTCModelBPE

DATA = Path(__file__).resolve().parent / "data" / "fastconformer"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(123)  # the weights must come from the archive
    m = EncDecCTCModelBPE.restore_from(str(DATA / "fc_ctc_bpe.nemo"), map_location="cpu")
    return m.eval()


def test_state_dict_keys_shapes_dtypes_in_nemo_order(model):
    expected = [line.split("\t") for line in (DATA / "fc_ctc_state_dict.txt").read_text().splitlines()]
    ours = [[k, str(tuple(v.shape)), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert ours == expected
    assert sum(p.numel() for p in model.parameters()) == 1_304_321


def test_features_encoder_logprobs_greedy_match_nemo(model):
    x = torch.from_numpy(np.load(DATA / "fc_input.npy"))
    lens = torch.from_numpy(np.load(DATA / "fc_input_len.npy"))
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=x, length=lens)
        enc, enc_len = model.encoder(audio_signal=feats, length=feat_len)
        log_probs, out_len, greedy = model(input_signal=x, input_signal_length=lens)
    for name, got in (("features", feats), ("encoded", enc), ("logprobs", log_probs)):
        want = np.load(DATA / f"fc_ctc_{name}.npy")
        assert got.shape == want.shape, name
        assert np.abs(got.numpy() - want).max() <= 1e-4, name
    np.testing.assert_array_equal(feat_len.numpy(), np.load(DATA / "fc_ctc_features_len.npy"))
    np.testing.assert_array_equal(enc_len.numpy(), np.load(DATA / "fc_ctc_encoded_len.npy"))
    np.testing.assert_array_equal(out_len.numpy(), np.load(DATA / "fc_ctc_encoded_len.npy"))
    np.testing.assert_array_equal(greedy.numpy(), np.load(DATA / "fc_ctc_greedy.npy"))


def test_nemo_checker_ctc_section_passes_transcribe_timestamps_and_resave():
    """The checker NeMo's files came with: hypotheses, transcribe(), timestamps, save_to + restore_from."""
    spec = importlib.util.spec_from_file_location("check_fastconformer", DATA / "check_fastconformer.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    report = checker.Report()
    facts = json.loads((DATA / "fc_expected.json").read_text())
    checker.check_ctc(report, facts, SimpleNamespace(atol=1e-4, score_atol=1e-3))
    assert report.failed == 0 and report.passed == 16


def test_tdt_archive_encoder_matches_nemo():
    """The FastConformer inside NeMo's TDT archive: its encoder.* weights give NeMo's encoder output."""
    import io
    import tarfile

    from omegaconf import OmegaConf

    from nemo.collections.asr.modules import ConformerEncoder

    cfg = OmegaConf.to_container(OmegaConf.load(DATA / "fc_tdt_config.yaml").encoder, resolve=True)
    cfg.pop("_target_")
    encoder = ConformerEncoder(**cfg).eval()
    with tarfile.open(DATA / "fc_tdt_bpe.nemo", "r:") as tar:
        weights = torch.load(io.BytesIO(tar.extractfile("./model_weights.ckpt").read()), weights_only=True)
    encoder.load_state_dict({k[len("encoder."):]: v for k, v in weights.items() if k.startswith("encoder.")})
    with torch.no_grad():
        enc, enc_len = encoder(audio_signal=torch.from_numpy(np.load(DATA / "fc_tdt_features.npy")),
                               length=torch.from_numpy(np.load(DATA / "fc_tdt_features_len.npy")))
    assert np.abs(enc.numpy() - np.load(DATA / "fc_tdt_encoded.npy")).max() <= 1e-4
    np.testing.assert_array_equal(enc_len.numpy(), np.load(DATA / "fc_tdt_encoded_len.npy"))
