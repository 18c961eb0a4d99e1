"""Small Conformer CTC models NVIDIA NeMo 3.0.0 wrote (one per option group) restore here with NeMo's numbers, and
the full-size configs build with NeMo's state-dict layout and parameter counts."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModel, EncDecCTCModelBPE
from nemo.collections.asr.modules import ConformerEncoder
from nemo.core.classes.common import Serialization
from tests.collections.asr import make_conformer_goldens as recipe

DATA = Path(__file__).resolve().parent / "data"
OPTIONS = DATA / "conformer_options"
META = json.loads((OPTIONS / "groups.json").read_text())


@pytest.fixture(scope="module")
def batch():
    audio, lens = recipe.audio_batch()
    return torch.from_numpy(audio), torch.from_numpy(lens)


@pytest.mark.parametrize("name", sorted(META["groups"]))
def test_nemo_written_group_restores_with_nemo_outputs(name, batch):
    info = META["groups"][name]
    cls = EncDecCTCModelBPE if info["bpe"] else EncDecCTCModel
    torch.manual_seed(123)
    model = cls.restore_from(str(OPTIONS / f"{name}.nemo"), map_location="cpu").eval()
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == info["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == info["params"]
    want = dict(np.load(OPTIONS / f"{name}.npz"))
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=batch[0], length=batch[1])
        encoded, encoded_len = model.encoder(audio_signal=feats, length=feat_len)
        log_probs, out_len, greedy = model(input_signal=batch[0], input_signal_length=batch[1])
    assert np.abs(feats.numpy() - np.load(OPTIONS / "features.npy")).max() <= 1e-4
    np.testing.assert_array_equal(feat_len.numpy(), np.load(OPTIONS / "features_len.npy"))
    assert encoded.shape == want["encoded"].shape
    assert np.abs(encoded.numpy() - want["encoded"]).max() <= 1e-4
    assert np.abs(log_probs.numpy() - want["log_probs"]).max() <= 1e-4
    np.testing.assert_array_equal(encoded_len.numpy(), want["encoded_len"])
    np.testing.assert_array_equal(out_len.numpy(), want["encoded_len"])
    np.testing.assert_array_equal(greedy.numpy(), want["greedy"])


def _listing(prefix, module):
    return [f"{prefix}{k}\t{tuple(v.shape)}\t{str(v.dtype).replace('torch.', '')}"
            for k, v in module.state_dict().items()]


@pytest.mark.parametrize("name", sorted(META["full_size"]))
def test_full_size_example_config_has_nemo_layout_and_parameter_count(name):
    """Encoder built on the meta device (no memory); preprocessor and CTC head for real; NeMo's listing in order."""
    cfg = recipe.full_size_config(name, str(DATA / "fastconformer" / "tokenizer"))
    facts = META["full_size"][name]
    enc_cfg = OmegaConf.to_container(cfg.encoder, resolve=True)
    enc_cfg.pop("_target_")
    with torch.device("meta"):
        encoder = ConformerEncoder(**enc_cfg)
    preprocessor = Serialization.from_config_dict(cfg.preprocessor)
    dec_cfg = OmegaConf.to_container(cfg.decoder, resolve=True)
    dec_cfg.update(feat_in=encoder._feat_out, num_classes=facts["vocab_size"],
                   vocabulary=[f"<{i}>" for i in range(facts["vocab_size"])])
    decoder = Serialization.from_config_dict(OmegaConf.create(dec_cfg))
    ours = _listing("preprocessor.", preprocessor) + _listing("encoder.", encoder) + _listing("decoder.", decoder)
    expected = (OPTIONS / f"{name}_state_dict.txt").read_text().splitlines()
    assert ours == expected
    assert sum(p.numel() for p in encoder.parameters()) == facts["encoder_params"]
    assert sum(p.numel() for p in decoder.parameters()) == facts["decoder_params"]


def test_parakeet_tdt_0_6b_encoder_has_nemo_layout():
    """The 0.6B parakeet encoder (xscaling false, use_bias false) from its NeMo-written config: key for key."""
    folder = DATA / "fastconformer"
    cfg = OmegaConf.to_container(OmegaConf.load(folder / "parakeet_tdt_0.6b_v2_config.yaml").encoder, resolve=True)
    cfg.pop("_target_")
    with torch.device("meta"):
        encoder = ConformerEncoder(**cfg)
    lines = [ln for ln in (folder / "parakeet_tdt_0.6b_v2_state_dict.txt").read_text().splitlines()
             if ln.startswith("encoder.")]
    assert _listing("encoder.", encoder) == lines
    assert sum(p.numel() for p in encoder.parameters()) == 608_879_616


def test_bpe_model_builds_from_the_shipped_fastconformer_yaml():
    """EncDecCTCModelBPE builds from the shipped FastConformer YAML (shrunk: 1 layer, d_model 64)."""
    cfg = recipe.full_size_config("fast-conformer_ctc_bpe", str(DATA / "fastconformer" / "tokenizer"))
    cfg.encoder.n_layers = 1
    cfg.encoder.d_model = 64
    cfg.encoder.n_heads = 2
    cfg.encoder.subsampling_conv_channels = 16
    model = EncDecCTCModelBPE(cfg=cfg)
    keys = [k for k in model.state_dict() if k.startswith("encoder.layers.1")]
    assert keys == [] and "encoder.layers.0.self_attn.pos_bias_u" in model.state_dict()
    assert model.encoder.subsampling_factor == 8 and model.decoder.num_classes_with_blank == 129
