"""Tacotron2Model: teacher-forced shapes, loss falls, free-running generation, NeMo key names, .nemo round trip."""

import pytest
import torch

from nemo.collections.tts.models import SpectrogramGenerator, Tacotron2Model
from tests.collections.tts.conftest import model_cfg, tiny_tacotron2_cfg


@pytest.fixture(scope="module")
def tacotron2(tts_corpus):
    torch.manual_seed(0)
    return Tacotron2Model(model_cfg(tiny_tacotron2_cfg(tts_corpus)))


def test_teacher_forced_shapes_and_loss_falls(tacotron2):
    assert isinstance(tacotron2, SpectrogramGenerator)
    batch = next(iter(tacotron2._train_dl))
    tacotron2.train()
    spec_dec, spec_post, gate, target, target_len, align = tacotron2(
        tokens=batch["text"], token_len=batch["text_lens"], audio=batch["audio"], audio_len=batch["audio_lens"])
    B, T_text = batch["text"].shape
    assert spec_dec.shape == spec_post.shape == target.shape and target.shape[:2] == (B, 80)
    assert gate.shape == (B, target.shape[2]) and align.shape == (B, target.shape[2], T_text)
    opt = torch.optim.Adam(tacotron2.parameters(), lr=3e-3)
    history = []
    for _ in range(5):
        loss, *_ = tacotron2._step(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss))
    assert history[-1] < history[0], history


def test_free_running_generation(tacotron2):
    tokens = tacotron2.parse("the cat")
    spec = tacotron2.generate_spectrogram(tokens=tokens)
    assert spec.shape[:2] == (1, 80) and 1 <= spec.shape[2] <= tacotron2.decoder.max_decoder_steps
    batch = torch.nn.utils.rnn.pad_sequence([tokens[0], tacotron2.parse("a dog likes the red box")[0]],
                                            batch_first=True, padding_value=tacotron2.tokenizer.pad)
    assert tacotron2.generate_spectrogram(tokens=batch).shape[0] == 2


def test_nemo_key_names(tacotron2):
    keys = tacotron2.state_dict().keys()
    for k in ("audio_to_melspec_precessor.fb", "audio_to_melspec_precessor.window", "text_embedding.weight",
              "encoder.convolutions.0.0.conv.weight", "encoder.convolutions.0.1.running_mean",
              "encoder.lstm.weight_ih_l0_reverse", "decoder.prenet.layers.0.linear_layer.weight",
              "decoder.attention_rnn.weight_ih", "decoder.attention_layer.query_layer.linear_layer.weight",
              "decoder.attention_layer.location_layer.location_conv.conv.weight",
              "decoder.attention_layer.location_layer.location_dense.linear_layer.weight",
              "decoder.decoder_rnn.weight_hh", "decoder.linear_projection.linear_layer.bias",
              "decoder.gate_layer.linear_layer.weight", "postnet.convolutions.1.0.conv.weight"):
        assert k in keys, k


def test_save_restore_round_trip(tacotron2, tmp_path):
    tacotron2.save_to(str(tmp_path / "t2.nemo"))
    restored = Tacotron2Model.restore_from(str(tmp_path / "t2.nemo"))
    a, b = tacotron2.state_dict(), restored.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(1)
    x = tacotron2.generate_spectrogram(tokens=tacotron2.parse("hello"))
    torch.manual_seed(1)  # prenet dropout stays on at inference: same seed, same output
    torch.testing.assert_close(restored.generate_spectrogram(tokens=restored.parse("hello")), x)
