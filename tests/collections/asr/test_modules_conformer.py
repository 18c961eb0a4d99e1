"""ConformerEncoder behaviour: masking, attention variants, positional tables, model surgery, export, refusals."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nemo.collections.asr.modules import ConformerEncoder
from nemo.collections.asr.parts.submodules.multi_head_attention import RelPositionMultiHeadAttention
from nemo.collections.asr.parts.submodules.subsampling import ConvSubsampling, calc_length

SMALL = dict(feat_in=16, n_layers=2, d_model=32, n_heads=4, ff_expansion_factor=2, subsampling="dw_striding",
             subsampling_factor=4, subsampling_conv_channels=8, conv_kernel_size=5)


def encoder(**kw):
    torch.manual_seed(0)
    enc = ConformerEncoder(**dict(SMALL, **kw))
    with torch.no_grad():  # non-trivial norms, biases and BatchNorm statistics
        for name, p in enc.named_parameters():
            if "pos_bias" in name or name.endswith("bias"):
                p.normal_(0, 0.1)
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return enc.eval()


def features(b=3, t=61, feat=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, feat, t, generator=g)


def run(enc, x, lens):
    with torch.no_grad():
        return enc(audio_signal=x, length=lens)


# (`stacking` is left out: NeMo's frame stacking folds padding into the last stacked frame by design)
@pytest.mark.parametrize("sub", ["dw_striding", "striding", "vggnet", "striding_conv1d", "dw_striding_conv1d"])
@pytest.mark.parametrize("attention", ["rel_pos", "abs_pos"])
def test_padded_item_equals_item_alone(sub, attention):
    """Padding never leaks into valid frames (masked subsampling, attention and conv masks)."""
    enc = encoder(subsampling=sub, self_attention_model=attention)
    x = features()
    lens = torch.tensor([61, 37, 50])
    x[1, :, 37:] = 5.0  # garbage in the padding must not matter
    out, out_len = run(enc, x, lens)
    for i in range(3):
        alone, alone_len = run(enc, x[i:i + 1, :, : lens[i]], lens[i:i + 1])
        assert out_len[i] == alone_len[0]
        torch.testing.assert_close(out[i:i + 1, :, : alone_len[0]], alone, atol=2e-5, rtol=1e-5)


def test_subsampling_zeroes_padded_frames_before_each_conv():
    """NeMo >= 2.5: a padded frame's garbage does not reach the strided conv outputs of valid frames."""
    torch.manual_seed(0)
    sub = ConvSubsampling("dw_striding", 8, feat_in=16, feat_out=24, conv_channels=8).eval()
    x = torch.randn(2, 80, 16)
    lens = torch.tensor([80, 41])
    y = x.clone()
    y[1, 41:] = 1000.0
    a, la = sub(x, lens)
    b, lb = sub(y, lens)
    assert la.tolist() == lb.tolist() == calc_length(lens, 2, 3, 2, False, 3).tolist() == [10, 6]
    torch.testing.assert_close(a, b)


def test_local_attention_equals_full_attention_when_window_covers_input():
    enc = encoder()
    x, lens = features(t=61), torch.tensor([61, 45, 30])
    full, _ = run(enc, x, lens)
    local = copy.deepcopy(enc)
    local.change_attention_model("rel_pos_local_attn", [20, 20])
    got, _ = run(local, x, lens)
    torch.testing.assert_close(got, full, atol=2e-5, rtol=1e-5)
    # a narrow window is a different model
    local.change_attention_model("rel_pos_local_attn", [2, 2])
    narrow, _ = run(local, x, lens)
    assert (narrow - full).abs().max() > 1e-2


def test_local_attention_blocks_equal_one_block():
    """The block-by-block sliding window gives the same numbers whatever the block size."""
    enc = encoder(self_attention_model="rel_pos_local_attn", att_context_size=[3, 5])
    x, lens = features(t=160), torch.tensor([160, 120, 77])
    ref, _ = run(enc, x, lens)
    for layer in enc.layers:
        layer.self_attn._BLOCK = 7
    got, _ = run(enc, x, lens)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


def test_limited_context_rel_pos_equals_local_attention_for_symmetric_window():
    enc = encoder(att_context_size=[4, 4])
    x, lens = features(t=61), torch.tensor([61, 45, 30])
    limited, _ = run(enc, x, lens)
    enc.change_attention_model("rel_pos_local_attn", [4, 4])
    local, _ = run(enc, x, lens)
    torch.testing.assert_close(local, limited, atol=2e-5, rtol=1e-5)


def test_rel_shift_matches_the_pad_and_view_formulation():
    attn = RelPositionMultiHeadAttention(2, 8, 0.0, None, None)
    scores = torch.randn(2, 2, 7, 13)
    b, h, q, p = scores.shape
    ref = F.pad(scores, (1, 0)).view(b, h, -1, q)[:, :, 1:].reshape(b, h, q, p)[..., :q]
    torch.testing.assert_close(attn.rel_shift(scores)[..., :q], ref)
    # entry [i, j] is the score against relative position i - j (column (T-1) - (i - j))
    i, j = 5, 2
    assert attn.rel_shift(scores)[0, 0, i, j] == scores[0, 0, i, (q - 1) - (i - j)]


def test_positional_table_extends_on_the_fly_and_matches_a_large_table():
    enc = encoder(pos_emb_max_len=20)
    assert enc.pos_enc.pe.shape[1] == 2 * 20 - 1
    x, lens = features(t=161), torch.tensor([161, 100, 64])
    out, _ = run(enc, x, lens)  # 161 input frames > 20: the table grows
    assert enc.max_audio_length == 161 and enc.pos_enc.pe.shape[1] == 2 * 161 - 1
    big = copy.deepcopy(enc)
    big.set_max_audio_length(5000)
    assert big.pos_enc.pe.shape[1] == 2 * 5000 - 1
    again, _ = run(big, x, lens)
    torch.testing.assert_close(again, out, atol=1e-5, rtol=1e-5)


def test_abs_pos_table_extends():
    enc = encoder(self_attention_model="abs_pos", pos_emb_max_len=10)
    out, _ = run(enc, features(t=90), torch.tensor([90, 80, 70]))
    assert enc.pos_enc.pe.shape[1] == 90 and torch.isfinite(out).all()


def test_change_attention_model_keeps_weights_and_round_trips():
    enc = encoder()
    x, lens = features(), torch.tensor([61, 45, 30])
    ref, _ = run(enc, x, lens)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.change_attention_model("abs_pos")
    assert enc.self_attention_model == "abs_pos" and "layers.0.self_attn.linear_pos.weight" not in enc.state_dict()
    enc.change_attention_model("rel_pos_local_attn", [8, 8])
    assert enc.att_context_size == [8, 8]
    enc.change_attention_model("rel_pos", [-1, -1])
    assert not any(m.training for m in enc.modules())  # new modules follow the encoder's eval mode
    after = enc.state_dict()
    # linear_pos and the positional biases were lost on the way through abs_pos (fresh zeros / init), as in NeMo
    same = [k for k in before if "linear_pos" not in k and "pos_bias" not in k]
    assert all(torch.equal(before[k], after[k]) for k in same)
    enc.load_state_dict(before)
    out, _ = run(enc, x, lens)
    torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match="context size must be set > 0"):
        enc.change_attention_model("rel_pos_local_attn", [-1, -1])
    with pytest.raises(ValueError, match="not a valid value"):
        enc.change_attention_model("flash")


@pytest.mark.parametrize("factor", [-1, 1, 2, 4])
def test_conv_chunking_factor_changes_memory_not_numbers(factor):
    enc = encoder(subsampling_factor=8)
    x, lens = features(b=4, t=97), torch.tensor([97, 80, 41, 66])
    ref, ref_len = run(enc, x, lens)
    enc.change_subsampling_conv_chunking_factor(factor)
    out, out_len = run(enc, x, lens)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
    assert out_len.tolist() == ref_len.tolist()
    with pytest.raises(ValueError, match="power of 2"):
        enc.change_subsampling_conv_chunking_factor(3)


def test_single_long_item_dw_striding_splits_by_channel_with_same_numbers():
    enc = encoder(subsampling_factor=8)
    x, lens = features(b=1, t=97), torch.tensor([90])
    ref, _ = run(enc, x, lens)
    enc.change_subsampling_conv_chunking_factor(4)
    out, _ = run(enc, x, lens)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)


def test_every_dropout_is_inactive_in_eval():
    noisy = encoder(dropout=0.5, dropout_pre_encoder=0.5, dropout_emb=0.5, dropout_att=0.5,
                    stochastic_depth_drop_prob=0.5)
    quiet = encoder(dropout=0.0, dropout_pre_encoder=0.0, dropout_emb=0.0, dropout_att=0.0)
    quiet.load_state_dict(noisy.state_dict())
    x, lens = features(), torch.tensor([61, 45, 30])
    a, _ = run(noisy, x, lens)
    b, _ = run(quiet, x, lens)
    torch.testing.assert_close(a, b)
    noisy.train()
    torch.manual_seed(3)
    c, _ = run(noisy, x, lens)
    assert (c - a).abs().max() > 1e-3  # and they do act in training


def test_stochastic_depth_probabilities_and_training_identity():
    enc = encoder(n_layers=4, stochastic_depth_drop_prob=0.6, stochastic_depth_start_layer=2)
    assert enc.layer_drop_probs == pytest.approx([0.0, 0.0, 0.3, 0.6])
    uniform = encoder(n_layers=3, stochastic_depth_drop_prob=0.2, stochastic_depth_mode="uniform")
    assert uniform.layer_drop_probs == pytest.approx([0.0, 0.2, 0.2])
    with pytest.raises(ValueError, match="stochastic_depth_mode"):
        encoder(stochastic_depth_drop_prob=0.1, stochastic_depth_mode="cubic")
    with pytest.raises(ValueError, match="stochastic_depth_start_layer"):
        encoder(stochastic_depth_start_layer=0)


def test_reduction_positions_and_lengths():
    enc = encoder(n_layers=3, reduction="pooling", reduction_position=1, reduction_factor=2)
    out, out_len = run(enc, features(t=61), torch.tensor([61, 45, 30]))
    assert out.shape == (3, 32, 8) and out_len.tolist() == [8, 6, 4]
    end = encoder(reduction="striding", reduction_position=-1, reduction_factor=2)
    out, out_len = run(end, features(t=61), torch.tensor([61, 45, 30]))
    assert out.shape[-1] == 8 and out_len.tolist() == [8, 6, 4]
    with pytest.raises(ValueError, match="reduction_position"):
        encoder(reduction="pooling", reduction_position=5, reduction_factor=2)


def test_feat_out_projection_and_linear_pre_encode():
    enc = encoder(feat_out=20)
    out, _ = run(enc, features(), torch.tensor([61, 45, 30]))
    assert out.shape == (3, 20, 16) and enc._feat_out == 20
    flat = encoder(subsampling_factor=1)
    out, out_len = run(flat, features(), torch.tensor([61, 45, 30]))
    assert out.shape == (3, 32, 61) and out_len.tolist() == [61, 45, 30]


def test_streaming_arguments_are_refused_clearly():
    enc = encoder()
    x = features()
    with pytest.raises(ValueError, match="streaming"):
        enc(audio_signal=x, length=torch.tensor([61, 45, 30]), cache_last_channel=torch.zeros(2, 3, 4, 32))
    with pytest.raises(ValueError, match="streaming"):
        encoder(att_context_style="chunked_limited_with_rc")
    with pytest.raises(ValueError, match="streaming"):
        encoder(conv_context_style="dcc")
    with pytest.raises(ValueError, match="global tokens"):
        encoder(self_attention_model="rel_pos_local_attn", att_context_size=[4, 4], global_tokens=2)
    with pytest.raises(ValueError, match=r"shape \(batch, 16, n_frame\)"):
        enc(audio_signal=torch.randn(1, 15, 30), length=torch.tensor([30]))
    with pytest.raises(ValueError, match="conv_context_size"):
        encoder(conv_context_size=[1, 1])


def test_chunked_limited_context_mask_matches_chunks():
    enc = encoder(att_context_style="chunked_limited", att_context_size=[4, 1])
    band = enc._context_band([4, 1], 6, "cpu")
    # chunks of 2 frames; each chunk sees itself and the 2 chunks before it
    assert band.int().tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0],
                                   [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]


def test_causal_convs_see_no_future_frames():
    enc = encoder(causal_downsampling=True, subsampling="striding", conv_context_size="causal",
                  att_context_size=[-1, 0])
    x, lens = features(b=1, t=64), torch.tensor([64])
    out, _ = run(enc, x, lens)
    y = x.clone()
    y[..., 40:] = torch.randn_like(y[..., 40:])
    out2, _ = run(enc, y, lens)
    # frames whose receptive field ends before input frame 40 are unchanged
    torch.testing.assert_close(out2[..., :8], out[..., :8], atol=1e-5, rtol=1e-5)
    assert (out2[..., -1] - out[..., -1]).abs().max() > 1e-3


def test_onnx_export_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    enc = encoder(subsampling_factor=8)
    path = tmp_path / "conformer.onnx"
    x, lens = features(b=2, t=80), torch.tensor([80, 57])
    enc.export(str(path), input_example=(x, lens))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for t, valid in ((80, [80, 57]), (131, [131, 99])):  # dynamic time axis: another length than the example
        xt, lt = features(b=2, t=t, seed=t), torch.tensor(valid)
        got_out, got_len = session.run(None, {names[0]: xt.numpy(), names[1]: lt.numpy()})
        want_out, want_len = run(enc, xt, lt)
        np.testing.assert_array_equal(got_len, want_len.numpy())
        assert np.abs(got_out - want_out.numpy()).max() < 1e-4


def test_fused_cpu_linear_path_gives_the_plain_numbers():
    from nemo.collections.asr.parts.submodules.cpu_linear import set_onednn_linear

    enc = encoder(subsampling_factor=8)
    x, lens = features(b=3, t=97), torch.tensor([97, 80, 41])
    fused, _ = run(enc, x, lens)
    previous = set_onednn_linear(False)
    try:
        plain, _ = run(enc, x, lens)
    finally:
        set_onednn_linear(previous)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    out, _ = enc(audio_signal=x, length=lens)  # with gradients: the plain path (the fused op has no backward)
    out.sum().backward()
    assert enc.layers[0].feed_forward1.linear1.weight.grad is not None


def test_bypass_pre_encode_takes_subsampled_embeddings():
    enc = encoder()
    x, lens = features(), torch.tensor([61, 45, 30])
    with torch.no_grad():
        emb, emb_len = enc.pre_encode(x.transpose(1, 2), lens)
        direct, direct_len = enc(audio_signal=emb, length=emb_len, bypass_pre_encode=True)
    full, full_len = run(enc, x, lens)
    torch.testing.assert_close(direct, full)
    assert direct_len.tolist() == full_len.tolist()
    with pytest.raises(ValueError, match="bypass_pre_encode is True"):
        enc(audio_signal=x, length=lens, bypass_pre_encode=True)


@pytest.mark.parametrize("attention", ["rel_pos", "limited"])
def test_rel_pos_query_blocks_equal_one_block(attention):
    """Long inputs run rel_pos attention in query blocks (bounded memory) with the same numbers."""
    enc = encoder(att_context_size=[6, 3] if attention == "limited" else None)
    x, lens = features(t=173), torch.tensor([173, 120, 90])
    ref, _ = run(enc, x, lens)
    for layer in enc.layers:
        layer.self_attn._QUERY_BLOCK = 10
    got, _ = run(enc, x, lens)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


def test_layer_accepts_nemo_boolean_masks_and_additive_ones_alike():
    from nemo.collections.asr.parts.submodules.multi_head_attention import additive_mask

    enc = encoder()
    layer = enc.layers[0]
    x = torch.randn(2, 12, 32)
    valid = torch.arange(12)[None, :] < torch.tensor([12, 7])[:, None]
    att = ~(valid[:, None, :] & valid[:, :, None])  # NeMo's (B, T, T) mask, True = hidden
    pos = enc.pos_enc(x)[1]
    with torch.no_grad():
        nemo_style = layer(x, att_mask=att, pos_emb=pos, pad_mask=~valid)
        additive = layer(x, att_mask=additive_mask(att, x.dtype), pos_emb=pos, pad_mask=~valid)
    torch.testing.assert_close(additive, nemo_style)


def test_stochastic_depth_in_training_drops_or_rescales_a_layer():
    """NeMo's rule: a dropped layer passes its input on; a kept one has its residual scaled by 1/(1-p)."""
    enc = encoder(dropout=0.0, dropout_pre_encoder=0.0, dropout_emb=0.0, dropout_att=0.0).train()
    enc.layer_drop_probs = [0.0, 0.5]
    x, lens = features(), torch.tensor([61, 45, 30])

    def by_hand(drop):
        with torch.no_grad():
            h, hl = enc.pre_encode(x.transpose(1, 2), lens)
            h, pos = enc.pos_enc(h)
            pad, att = enc._create_masks([-1, -1], hl, h.size(1), h.device)
            h = enc.layers[0](h, att_mask=att, pos_emb=pos, pad_mask=pad)
            out = enc.layers[1](h, att_mask=att, pos_emb=pos, pad_mask=pad)
            return (h if drop else (out - h) / 0.5 + h).transpose(1, 2)

    for seed in range(20):
        torch.manual_seed(seed)
        dropped = bool(torch.rand(1) < 0.5)
        torch.manual_seed(seed)
        got, _ = run(enc, x, lens)
        torch.testing.assert_close(got, by_hand(dropped), atol=1e-5, rtol=1e-5)
