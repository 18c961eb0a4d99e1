"""Every ConvASREncoder/JasperBlock option group NVIDIA NeMo 3.0.0 accepts: a NeMo-written .nemo of each restores
here with NeMo's features, encoder outputs and log-probs (1e-4) on a padded batch of three espeak-ng utterances, on
the channels-last fast path and on the ordinary path. Goldens: make_jasper_option_goldens.py under NeMo's python."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nemo.core import ConfigError, ModelClassError, ModelPT
from tests.collections.asr.make_jasper_option_goldens import TRAIN_GROUPS, audio_batch, train_mode_encoded

DATA = Path(__file__).parent / "data" / "jasper_options"
META = json.loads((DATA / "groups.json").read_text())
TOL = 1e-4
BLOCK = dict(filters=8, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=True)


@pytest.fixture(scope="module")
def batch():
    audio, lens = audio_batch(DATA / "wav")
    return torch.from_numpy(audio), torch.from_numpy(lens)


@pytest.fixture(scope="module")
def restored():
    """One restore per group, shared by both encoder paths."""
    cache = {}

    def get(name):
        if name not in cache:
            model = ModelPT.restore_from(str(DATA / f"{name}.nemo"), map_location="cpu")
            cache[name] = model.eval()
        return cache[name]

    return get


def test_goldens_come_from_nemo_and_cover_every_option():
    assert META["nemo"] == "3.0.0"
    defaults = {"se": False, "se_reduction_ratio": 8, "se_context_size": -1, "se_interpolation_mode": "nearest",
                "residual_mode": "add", "residual_dense": False, "separable": False, "groups": 1, "heads": -1,
                "kernel_size_factor": 1.0, "future_context": -1, "stride_last": False, "dilation": [1]}
    keys, encoder_keys, activations, norms = set(), set(), set(), set()
    strided_residual = False
    for group in META["groups"].values():
        enc = group["encoder"]
        encoder_keys |= set(enc) - {"jasper", "activation"}
        activations.add(enc["activation"])
        norms.add(enc.get("normalization_mode", "batch"))
        for b in enc["jasper"]:
            keys |= {k for k, v in b.items() if k in defaults and v != defaults[k]}
            strided_residual |= b["residual"] and b["stride"] != [1]
    assert keys == set(defaults)
    assert strided_residual
    assert encoder_keys == {"residual_mode", "normalization_mode", "norm_groups", "conv_mask"}
    assert activations == {"hardtanh", "relu", "selu", "swish", "silu", "gelu", "identity"}
    assert norms == {"batch", "layer", "group", "instance"}


def _assert_close(ours, expected, what):
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape} vs NeMo's {expected.shape}"
    diff = float(np.abs(ours - expected).max())
    assert diff < TOL, f"{what}: max |diff| {diff:.3g} from NeMo's"


@pytest.mark.parametrize("time_major", [True, False], ids=["channels_last", "ordinary"])
@pytest.mark.parametrize("name", sorted(META["groups"]))
def test_nemo_written_option_group_restores_with_nemo_outputs(name, time_major, batch, restored):
    model = restored(name)
    model.encoder._time_major = time_major
    seen = []
    hooks = [block.register_forward_pre_hook(lambda m, a: seen.append(a[0][0][-1].stride(1) == 1))
             for block in model.encoder.encoder]
    expected = np.load(DATA / f"{name}.npz")
    signal, length = batch
    try:
        with torch.no_grad():
            feats, feat_len = model.preprocessor(input_signal=signal, length=length)
            nemo_feats = torch.from_numpy(np.load(DATA / "features.npy"))
            encoded, encoded_len = model.encoder(audio_signal=nemo_feats, length=feat_len)
            log_probs = model.decoder(encoder_output=encoded)
            full_log_probs, full_len, _ = model(input_signal=signal, input_signal_length=length)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen and all(s == time_major for s in seen), "encoder did not take the path asked for"
    _assert_close(feats.numpy(), nemo_feats.numpy(), "features")
    assert feat_len.tolist() == np.load(DATA / "features_len.npy").tolist()
    _assert_close(encoded.numpy(), expected["encoded"], "encoder outputs")
    _assert_close(log_probs.numpy(), expected["log_probs"], "log-probs")
    _assert_close(full_log_probs.numpy(), expected["log_probs"], "log-probs from audio")
    if model.cfg.encoder.get("conv_mask", True):
        assert encoded_len.tolist() == full_len.tolist() == expected["encoded_len"].tolist()
    else:
        # NeMo leaves lengths untouched without masked convs, even after a stride (docs/differences.md)
        assert expected["encoded_len"].tolist() == feat_len.tolist()
        assert encoded_len.tolist() == full_len.tolist() == ((feat_len - 1) // 2 // 2 + 1).tolist()


@pytest.mark.parametrize("time_major", [True, False], ids=["channels_last", "ordinary"])
@pytest.mark.parametrize("name", TRAIN_GROUPS)
def test_training_mode_encoder_draws_nemos_dropout_masks_and_se_windows(name, time_major):
    model = ModelPT.restore_from(str(DATA / f"{name}.nemo"), map_location="cpu")
    model.encoder._time_major = time_major
    encoded = train_mode_encoded(model, np.load(DATA / "features.npy"), np.load(DATA / "features_len.npy"))
    _assert_close(encoded, np.load(DATA / f"{name}.npz")["train_encoded"], "training-mode encoder outputs")


def test_residual_mode_carries_to_later_blocks_like_nemo(restored):
    modes = [b.residual_mode for b in restored("residual_max").encoder.encoder]
    assert modes == ["add", "add", "max", "max", "add", "add", "add"]


def test_restoring_with_quantize_is_refused_naming_the_key():
    cfg = ModelPT.restore_from(str(DATA / "se_global.nemo"), return_config=True)
    cfg.encoder.quantize = True
    with pytest.raises((ConfigError, ModelClassError), match=r"encoder\.quantize"):
        ModelPT.restore_from(str(DATA / "se_global.nemo"), override_config_path=cfg)


@pytest.mark.parametrize("where", ["encoder", "block"])
def test_quantize_is_refused(where):
    from nemo.collections.asr.modules import ConvASREncoder
    from nemo.collections.asr.parts.submodules.jasper import JasperBlock

    cfg = META["groups"]["se_global"]["encoder"]
    with pytest.raises(ConfigError, match="quantize"):
        if where == "encoder":
            ConvASREncoder(jasper=cfg["jasper"], activation="relu", feat_in=32, quantize=True)
        else:
            JasperBlock(32, 32, repeat=1, kernel_size=[5], stride=[1], dilation=[1], se=True, quantize=True)


@pytest.mark.parametrize("change, key", [({"activation": "tanh"}, "encoder.activation"),
                                         ({"normalization_mode": "weight"}, "encoder.normalization_mode"),
                                         ({"jasper": [{"filters": 8}]}, r"encoder.jasper\[0\]"),
                                         ({"jasper": [dict(BLOCK, stride=[2])]}, r"jasper\[0\].*stride_add"),
                                         ({"jasper": [dict(BLOCK, stride=[2], residual_mode="stride_add", repeat=2)]},
                                          r"jasper\[0\].*stride_last")])
def test_options_nemo_cannot_run_are_refused_naming_the_key(change, key):
    from nemo.collections.asr.modules import ConvASREncoder

    cfg = dict(META["groups"]["norm_layer"]["encoder"], feat_in=32)
    cfg.update(change)
    with pytest.raises(ConfigError, match=key):
        ConvASREncoder(**cfg)
