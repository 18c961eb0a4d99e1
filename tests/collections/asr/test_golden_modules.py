"""ASR modules against files NVIDIA NeMo 3.0.0 wrote: state-dict layout and eval-mode numerics."""

import io
import tarfile

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from nemo.core.classes.common import Serialization


def _load_weights(golden):
    with tarfile.open(golden / "quartznet_small_nemo.nemo", "r:") as tar:
        data = tar.extractfile("./model_weights.ckpt").read()
    return torch.load(io.BytesIO(data), weights_only=True)


@pytest.fixture(scope="module")
def chain():
    """preprocessor/encoder/decoder built from the golden config, in NeMo's registration order."""
    from tests.conftest import GOLDEN

    cfg = OmegaConf.load(GOLDEN / "quartznet_small_config.yaml")
    torch.manual_seed(0)
    model = nn.Module()
    model.preprocessor = Serialization.from_config_dict(cfg.preprocessor)
    model.encoder = Serialization.from_config_dict(cfg.encoder)
    model.decoder = Serialization.from_config_dict(cfg.decoder)
    return model


def test_state_dict_layout_matches_nemo(chain, golden):
    ours = [
        f"{k}\t{tuple(v.shape)}\t{str(v.dtype).replace('torch.', '')}" for k, v in chain.state_dict().items()
    ]
    expected = (golden / "quartznet_small_state_dict.txt").read_text().strip().split("\n")
    assert ours == expected


def test_computed_window_and_filterbank_equal_stored_buffers(chain, golden):
    stored = _load_weights(golden)
    assert torch.equal(chain.preprocessor.featurizer.window, stored["preprocessor.featurizer.window"])
    torch.testing.assert_close(chain.preprocessor.featurizer.fb, stored["preprocessor.featurizer.fb"], rtol=0, atol=1e-7)


def test_eval_numerics_match_nemo(chain, golden):
    chain.load_state_dict(_load_weights(golden), strict=True)
    chain.eval()
    signal = torch.from_numpy(np.load(golden / "quartznet_small_input.npy"))[None]
    length = torch.tensor([signal.shape[1]])
    with torch.no_grad():
        feats, feat_len = chain.preprocessor(input_signal=signal, length=length)
        encoded, encoded_len = chain.encoder(audio_signal=feats, length=feat_len)
        log_probs = chain.decoder(encoder_output=encoded)

    expected_feats = np.load(golden / "quartznet_small_features.npy")
    assert feats.shape == expected_feats.shape == (1, 64, 112)
    assert int(feat_len) == 100
    assert np.abs(feats.numpy() - expected_feats).max() < 1e-4
    assert np.all(feats.numpy()[:, :, 100:] == 0.0)

    expected_lp = np.load(golden / "quartznet_small_logprobs.npy")
    assert log_probs.shape == expected_lp.shape == (1, 56, 29)
    assert np.abs(log_probs.numpy() - expected_lp).max() < 1e-4
    assert encoded_len.tolist() == np.load(golden / "quartznet_small_encoded_len.npy").tolist() == [50]

    top2 = np.sort(expected_lp, axis=-1)[..., -2:]
    decisive = (top2[..., 1] - top2[..., 0]) > 1e-4
    greedy = np.load(golden / "quartznet_small_greedy.npy")
    assert decisive.sum() > 20
    assert np.array_equal(log_probs.argmax(-1).numpy()[decisive], greedy[decisive])


def _block(filters, repeat, kernel, stride=1, dilation=1, residual=True, separable=True, dense=False, dropout=0.0):
    return dict(filters=filters, repeat=repeat, kernel=[kernel], stride=[stride], dilation=[dilation],
                dropout=dropout, residual=residual, separable=separable, residual_dense=dense)


def test_quartznet_15x5_parameter_count_and_keys():
    from nemo.collections.asr.modules import AudioToMelSpectrogramPreprocessor, ConvASRDecoder, ConvASREncoder

    blocks = [_block(256, 1, 33, stride=2, residual=False)]
    blocks += [_block(256, 5, k) for k in [33] * 3 + [39] * 3]
    blocks += [_block(512, 5, k) for k in [51] * 3 + [63] * 3 + [75] * 3]
    blocks += [_block(512, 1, 87, dilation=2, residual=False), _block(1024, 1, 1, residual=False, separable=False)]
    model = nn.Module()
    model.preprocessor = AudioToMelSpectrogramPreprocessor(features=64, n_fft=512)
    model.encoder = ConvASREncoder(blocks, activation="relu", feat_in=64, conv_mask=True)
    model.decoder = ConvASRDecoder(1024, 28, vocabulary=list(" abcdefghijklmnopqrstuvwxyz'"))
    sd = model.state_dict()
    assert len(sd) == 639
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 18_924_381
    assert tuple(sd["encoder.encoder.7.mconv.0.conv.weight"].shape) == (256, 1, 51)
    assert tuple(sd["encoder.encoder.7.res.0.0.conv.weight"].shape) == (512, 256, 1)
    assert tuple(sd["encoder.encoder.15.mconv.22.running_var"].shape) == (512,)
    assert tuple(sd["encoder.encoder.17.mconv.0.conv.weight"].shape) == (1024, 512, 1)
    assert tuple(sd["decoder.decoder_layers.0.weight"].shape) == (29, 1024, 1)
    assert model.encoder.subsampling_factor == 2


def test_jasper_10x5_dense_residual_parameter_count():
    from nemo.collections.asr.modules import ConvASRDecoder, ConvASREncoder

    blocks = [_block(256, 1, 11, stride=2, residual=False, separable=False, dropout=0.2)]
    for filters, kernel, drop in [(256, 11, .2), (384, 13, .2), (512, 17, .2), (640, 21, .3), (768, 25, .3)]:
        blocks += [_block(filters, 5, kernel, separable=False, dense=True, dropout=drop)] * 2
    blocks += [_block(896, 1, 29, dilation=2, residual=False, separable=False, dropout=.4),
               _block(1024, 1, 1, residual=False, separable=False, dropout=.4)]
    with torch.device("meta"):  # 332M parameters: count them without allocating
        encoder = ConvASREncoder(blocks, activation="relu", feat_in=64)
        decoder = ConvASRDecoder(1024, 28)
    total = sum(p.numel() for p in encoder.parameters()) + sum(p.numel() for p in decoder.parameters())
    assert total == 332_632_349
    # block 10 sees the input of block 1 and the outputs of blocks 1..9: ten residual branches
    assert len(encoder.encoder[10].res) == 10
