"""Unit behaviour of the ASR modules, loss, decoding and WER (spec §5-§7, §9)."""

import copy
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from nemo.collections.asr.losses import CTCLoss
from nemo.collections.asr.metrics.wer import WER, word_error_rate, word_error_rate_detail, word_error_rate_per_utt
from nemo.collections.asr.modules import (
    AudioToMelSpectrogramPreprocessor,
    ConvASRDecoder,
    ConvASREncoder,
    SpectrogramAugmentation,
)
from nemo.collections.asr.parts.submodules import jasper
from nemo.collections.asr.parts.submodules.ctc_decoding import CTCDecoding, CTCDecodingConfig
from nemo.collections.asr.parts.submodules.spectr_augment import SpecAugment, SpecCutout

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


def _frames_to_logprobs(frame_ids, vocab=29):
    lp = torch.full((1, len(frame_ids), vocab), -20.0)
    for t, i in enumerate(frame_ids):
        lp[0, t, i] = -0.01
    return lp


# --- preprocessor -------------------------------------------------------------------------------


def test_preprocessor_lengths_padding_and_normalisation():
    pre = AudioToMelSpectrogramPreprocessor().eval()
    x = torch.randn(2, 16000)
    lengths = torch.tensor([16000, 8000])
    feats, feat_len = pre(input_signal=x, length=lengths)
    assert feat_len.tolist() == [100, 50]  # floor(L / 160), NeMo >= 2.5
    assert feats.shape == (2, 64, 112)  # 101 STFT frames padded to a multiple of 16
    assert torch.all(feats[1, :, 50:] == 0) and torch.all(feats[0, :, 100:] == 0)
    valid = feats[1, :, :50]
    torch.testing.assert_close(valid.mean(dim=1), torch.zeros(64), atol=1e-4, rtol=0)
    torch.testing.assert_close(valid.std(dim=1), torch.ones(64), atol=1e-3, rtol=0)
    # the second row's valid frames do not depend on the first row or on its own padding
    alone, _ = pre(input_signal=x[1:, :8000], length=lengths[1:])
    torch.testing.assert_close(alone[0, :, :50], feats[1, :, :50], atol=1e-4, rtol=0)


def test_preprocessor_dither_only_in_training_and_zero_length():
    pre = AudioToMelSpectrogramPreprocessor(dither=1e-3)
    x = torch.randn(1, 4000)
    n = torch.tensor([4000])
    pre.eval()
    a, _ = pre(input_signal=x, length=n)
    b, _ = pre(input_signal=x, length=n)
    assert torch.equal(a, b)
    pre.train()
    c, _ = pre(input_signal=x, length=n)
    assert not torch.equal(a, c)
    _, zero_len = pre(input_signal=torch.zeros(1, 400), length=torch.tensor([0]))
    assert zero_len.tolist() == [0]


def test_preprocessor_rejects_conflicting_window_arguments():
    with pytest.raises(ValueError):
        AudioToMelSpectrogramPreprocessor(window_size=0.02, n_window_size=320)
    with pytest.raises(ValueError):
        AudioToMelSpectrogramPreprocessor(log_zero_guard_type="bogus")
    pre = AudioToMelSpectrogramPreprocessor(window_size=None, window_stride=None, n_window_size=400, n_window_stride=160)
    assert pre.featurizer.n_fft == 512 and tuple(pre.featurizer.window.shape) == (400,)


def test_preprocessor_pad_to_max_all_features_and_clamp_guard():
    pre = AudioToMelSpectrogramPreprocessor(pad_to="max", normalize="all_features", log_zero_guard_type="clamp",
                                            frame_splicing=2).eval()
    max_frames = int(pre.featurizer.max_length)
    assert max_frames == 1670  # frames of max_duration 16.7 s
    feats, n = pre(input_signal=torch.randn(1, 8000), length=torch.tensor([8000]))
    assert feats.shape == (1, 128, max_frames) and n.tolist() == [50]
    valid = feats[0, :, :50]
    assert abs(valid.mean().item()) < 1e-4 and abs(valid.std().item() - 1) < 1e-3


# --- augmentation -------------------------------------------------------------------------------


def test_spec_augment_seeded_runs_repeat_and_masks_are_bounded():
    spec = torch.randn(3, 64, 200) + 10.0
    lengths = torch.tensor([200, 150, 90])
    a = SpectrogramAugmentation(freq_masks=2, time_masks=2, freq_width=15, time_width=0.05,
                                rect_masks=3, rect_time=20, rect_freq=10, rng=123)
    b = SpectrogramAugmentation(freq_masks=2, time_masks=2, freq_width=15, time_width=0.05,
                                rect_masks=3, rect_time=20, rect_freq=10, rng=123)
    out_a, out_b = a(input_spec=spec, length=lengths), b(input_spec=spec, length=lengths)
    assert torch.equal(out_a, out_b)
    assert (out_a == 0).any() and not torch.equal(out_a, spec)
    # torch's global RNG drives rng=None, so torch.manual_seed makes a run repeat
    c = SpectrogramAugmentation(freq_masks=2, time_masks=2, rect_masks=2)
    torch.manual_seed(7)
    first = c(input_spec=spec, length=lengths)
    torch.manual_seed(7)
    assert torch.equal(first, c(input_spec=spec, length=lengths))


def test_spec_augment_widths_and_bad_time_width():
    spec = torch.ones(4, 64, 100)
    out = SpecAugment(freq_masks=1, time_masks=0, freq_width=10, rng=0)(spec, torch.full((4,), 100))
    zero_rows = (out == 0).all(dim=2).sum(dim=1)
    assert torch.all(zero_rows < 10)
    cut = SpecCutout(rect_masks=1, rect_time=5, rect_freq=5, rng=0)(spec)
    assert torch.all((cut == 0).sum(dim=(1, 2)) <= 25)
    with pytest.raises(ValueError):
        SpecAugment(time_masks=1, time_width=1.5)


# --- encoder / decoder --------------------------------------------------------------------------


def _small_encoder(**block):
    cfg = dict(filters=32, repeat=2, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=True, separable=True)
    cfg.update(block)
    first = dict(filters=32, repeat=1, kernel=[7], stride=[2], dilation=[1], dropout=0.0, residual=False, separable=True)
    return ConvASREncoder([first, cfg], activation="relu", feat_in=16, conv_mask=True)


@pytest.mark.parametrize("block", [{}, {"se": True, "se_context_size": -1}, {"residual_mode": "max"}])
def test_masked_encoder_ignores_padding(block):
    torch.manual_seed(0)
    enc = _small_encoder(**block).eval()
    x = torch.randn(1, 16, 40)
    padded = torch.cat([x, torch.randn(1, 16, 24) * 100], dim=2)
    out_short, len_short = enc(audio_signal=x, length=torch.tensor([40]))
    out_pad, len_pad = enc(audio_signal=padded, length=torch.tensor([40]))
    assert len_short.tolist() == len_pad.tolist() == [20]
    torch.testing.assert_close(out_pad[:, :, :20], out_short[:, :, :20], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("conv_mask", [True, False])
@pytest.mark.parametrize("training", [False, True])
def test_time_major_encoder_matches_channel_major(conv_mask, training):
    """The CPU channels-last path gives the channel-major values, gradients and BatchNorm running statistics."""
    torch.manual_seed(0)
    fast = _small_encoder(se=True)
    if not conv_mask:
        fast = ConvASREncoder([dict(filters=24, repeat=2, kernel=[5], stride=[1], dilation=[1], dropout=0.0,
                                    residual=True, separable=True)], activation="relu", feat_in=16, conv_mask=False)
    slow = copy.deepcopy(fast)
    slow._time_major = False
    x = torch.randn(3, 16, 50)
    lengths = torch.tensor([50, 41, 17])
    outs = []
    for enc in (fast, slow):
        enc.train(training)
        inp = x.clone().requires_grad_(True)
        with mock.patch.object(jasper.F, "conv2d", wraps=F.conv2d) as conv2d:
            out, out_len = enc(audio_signal=inp, length=lengths)
        assert conv2d.called == (enc is fast)
        out.square().sum().backward()
        assert out.is_contiguous()
        outs.append((out, out_len, inp.grad, enc.state_dict()))
    (a, a_len, a_grad, a_sd), (b, b_len, b_grad, b_sd) = outs
    assert a_len.tolist() == b_len.tolist()
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a_grad, b_grad, atol=1e-4, rtol=1e-4)
    for key in a_sd:
        torch.testing.assert_close(a_sd[key], b_sd[key], atol=1e-5, rtol=1e-5, msg=key)
    if training:
        assert int(a_sd["encoder.0.mconv.2.num_batches_tracked"]) == 1


_BASE = dict(filters=16, repeat=2, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=True)


@pytest.mark.parametrize("blocks", [
    [dict(_BASE, residual=False), dict(_BASE, residual_dense=True), dict(_BASE, residual_dense=True)],
    [dict(_BASE, groups=4)],
    [dict(_BASE, repeat=1, stride=[2], residual_mode="stride_add", separable=True)],
    [dict(_BASE, future_context=1, separable=True)],
    [dict(_BASE, kernel=[3], dilation=[2], separable=True)],
    [dict(_BASE, heads=4, separable=True)],
], ids=["dense_residual", "groups_shuffle", "stride_add", "future_context", "dilation", "heads"])
def test_time_major_encoder_block_variants(blocks):
    torch.manual_seed(0)
    fast = ConvASREncoder(blocks, activation="relu", feat_in=16, conv_mask=True)
    slow = copy.deepcopy(fast)
    slow._time_major = False
    x, lengths = torch.randn(3, 16, 40), torch.tensor([40, 33, 12])
    for training in (False, True):
        a, a_len = fast.train(training)(audio_signal=x, length=lengths)
        b, b_len = slow.train(training)(audio_signal=x, length=lengths)
        assert a_len.tolist() == b_len.tolist()
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_time_major_encoder_still_runs_module_hooks():
    enc = _small_encoder().eval()
    seen = []
    enc.encoder[1].mconv[0].conv.register_forward_hook(lambda *args: seen.append("conv"))
    enc.encoder[1].mconv[2].register_forward_pre_hook(lambda *args: seen.append("bn"))
    enc(audio_signal=torch.randn(2, 16, 30), length=torch.tensor([30, 20]))
    assert seen == ["conv", "bn"]


def test_separable_block_key_layout_and_shared_activation():
    enc = _small_encoder()
    keys = list(enc.state_dict())
    assert "encoder.1.mconv.0.conv.weight" in keys and "encoder.1.mconv.5.conv.weight" in keys
    assert "encoder.1.res.0.0.conv.weight" in keys and "encoder.1.res.0.1.running_var" in keys
    act0, act1 = enc.encoder[0].mout[0], enc.encoder[1].mconv[3]
    assert act0 is act1 and act0.inplace
    bn = enc.encoder[0].mconv[2]
    assert bn.eps == 1e-3


def test_decoder_log_softmax_blank_last_and_vocab_checks():
    dec = ConvASRDecoder(feat_in=8, num_classes=-1, vocabulary=LABELS)
    assert dec.num_classes_with_blank == 29
    out = dec(encoder_output=torch.randn(2, 8, 7))
    assert out.shape == (2, 7, 29)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(2, 7))
    with pytest.raises(ValueError):
        ConvASRDecoder(feat_in=8, num_classes=5, vocabulary=LABELS)
    with pytest.raises(ValueError):
        ConvASRDecoder(feat_in=8, num_classes=-1)


# --- loss ---------------------------------------------------------------------------------------


def test_ctc_loss_reductions():
    torch.manual_seed(0)
    lp = torch.randn(3, 30, 29).log_softmax(-1)
    targets = torch.randint(0, 28, (3, 6))
    in_len, tgt_len = torch.tensor([30, 25, 20]), torch.tensor([6, 4, 2])
    per_utt = CTCLoss(28, reduction="none")(log_probs=lp, targets=targets, input_lengths=in_len, target_lengths=tgt_len)
    batch = CTCLoss(28)(log_probs=lp, targets=targets, input_lengths=in_len, target_lengths=tgt_len)
    volume = CTCLoss(28, reduction="mean_volume")(log_probs=lp, targets=targets, input_lengths=in_len,
                                                  target_lengths=tgt_len)
    torch_mean = CTCLoss(28, reduction="mean")(log_probs=lp, targets=targets, input_lengths=in_len,
                                               target_lengths=tgt_len)
    torch.testing.assert_close(batch, per_utt.mean())
    torch.testing.assert_close(volume, per_utt.sum() / tgt_len.sum())
    torch.testing.assert_close(torch_mean, (per_utt / tgt_len).mean())
    with pytest.raises(ValueError):
        CTCLoss(28, reduction="average")


# --- decoding -----------------------------------------------------------------------------------


def test_default_decoding_config_matches_nemo(golden):
    ours = OmegaConf.to_yaml(OmegaConf.structured(CTCDecodingConfig()))
    theirs = OmegaConf.to_yaml(OmegaConf.load(golden / "quartznet_small_config.yaml").decoding)
    assert ours == theirs


@pytest.mark.parametrize("strategy", ["greedy", "greedy_batch"])
def test_greedy_collapse_punctuation_and_score(strategy):
    decoding = CTCDecoding({"strategy": strategy}, LABELS)
    assert decoding.blank_id == 28
    # h h _ h i ' ' ' s _ : repeats fold, a blank separates the two h's, " '" loses its space
    frames = [8, 8, 28, 8, 9, 0, 27, 19, 28]
    hyp = decoding.ctc_decoder_predictions_tensor(_frames_to_logprobs(frames), torch.tensor([9]))[0]
    assert hyp.text == "hhi's"
    assert hyp.y_sequence.tolist() == frames
    assert hyp.score == pytest.approx(-0.01 * 7)  # seven non-blank frames
    short = decoding.ctc_decoder_predictions_tensor(_frames_to_logprobs(frames), torch.tensor([2]))[0]
    assert short.text == "h" and short.y_sequence.tolist() == [8, 8]


def test_timestamps_and_unknown_strategy():
    decoding = CTCDecoding({"strategy": "greedy_batch", "compute_timestamps": True}, LABELS)
    frames = [8, 8, 9, 0, 28, 2, 25, 5, 28]  # "hi bye"
    hyp = decoding.ctc_decoder_predictions_tensor(_frames_to_logprobs(frames), torch.tensor([9]))[0]
    assert hyp.text == "hi bye"
    assert hyp.timestamp["char"][0] == {"char": "h", "start_offset": 0, "end_offset": 2}
    assert [w["word"] for w in hyp.timestamp["word"]] == ["hi", "bye"]
    assert hyp.timestamp["word"][1]["start_offset"] == 5
    assert hyp.timestamp["segment"][0]["segment"] == "hi bye"
    with pytest.raises(ValueError):
        CTCDecoding({"strategy": "telepathy"}, LABELS)


# --- WER ----------------------------------------------------------------------------------------


def test_word_error_rate_helpers():
    assert word_error_rate(["a b c"], ["a x c d"]) == pytest.approx(0.5)
    assert word_error_rate(["abc"], ["abd"], use_cer=True) == pytest.approx(1 / 3)
    assert word_error_rate([""], [""]) == float("inf")
    wer, words, ins, dels, subs = word_error_rate_detail(["a b c e"], ["a x c"])
    assert (words, ins, dels, subs) == (3, pytest.approx(1 / 3), 0.0, pytest.approx(1 / 3))
    per_utt, total = word_error_rate_per_utt(["a", "b c"], ["a", "b d"])
    assert per_utt == [0.0, 0.5] and total == pytest.approx(1 / 3)


def test_wer_metric_assigns_batch_counts():
    wer = WER(CTCDecoding(CTCDecodingConfig(), LABELS), log_prediction=False)
    lp = _frames_to_logprobs([8, 9, 0, 20, 8, 5, 18, 5])  # "hi there"
    wer.update(predictions=lp, predictions_lengths=torch.tensor([8]),
               targets=torch.tensor([[8, 9, 0, 20, 8, 5, 18, 5]]), targets_lengths=torch.tensor([8]))
    value, num, den = wer.compute()
    assert (value.item(), num.item(), den.item()) == (0.0, 0.0, 2.0)
    wer.update(predictions=lp, predictions_lengths=torch.tensor([8]),
               targets=torch.tensor([[8, 9, 0, 20, 8, 5, 18, 5, 0, 1]]), targets_lengths=torch.tensor([10]))
    value, num, den = wer.compute()  # second call replaces the first: 1 error out of 3 words
    assert (num.item(), den.item()) == (1.0, 3.0)
    assert value.item() == pytest.approx(1 / 3)
    assert "scores" not in wer.state_dict()
    cer = WER(CTCDecoding(CTCDecodingConfig(), LABELS), use_cer=True, log_prediction=False)
    cer.update(predictions=lp, predictions_lengths=torch.tensor([8]),
               targets=torch.tensor([[8, 9, 0, 20, 8, 5, 18, 1]]), targets_lengths=torch.tensor([8]))
    assert cer.compute()[0].item() == pytest.approx(1 / 8)
