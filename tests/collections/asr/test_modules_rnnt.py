"""RNNTDecoder and RNNTJoint: NeMo's keys, SOS/blank-as-pad semantics, stateful steps, log-softmax rule, export."""

import pytest
import torch

from nemo.collections.asr.modules import RNNTDecoder, RNNTDecoderJoint, RNNTJoint
from nemo.collections.common.parts.rnn import label_collate


def _decoder(vocab=7, hidden=16, layers=2, blank_as_pad=True, dropout=0.0):
    torch.manual_seed(0)
    return RNNTDecoder(prednet={"pred_hidden": hidden, "pred_rnn_layers": layers, "dropout": dropout},
                       vocab_size=vocab, blank_as_pad=blank_as_pad).eval()


def _joint(vocab=7, extra=0, dropout=0.0, log_softmax=None, enc=12, pred=16):
    torch.manual_seed(1)
    return RNNTJoint(jointnet={"encoder_hidden": enc, "pred_hidden": pred, "joint_hidden": 20, "activation": "relu",
                               "dropout": dropout},
                     num_classes=vocab, num_extra_outputs=extra, log_softmax=log_softmax,
                     vocabulary=[str(i) for i in range(vocab)]).eval()


def test_decoder_keys_shapes_and_init():
    dec = _decoder()
    keys = list(dec.state_dict())
    assert keys[0] == "prediction.embed.weight"
    assert keys[1:5] == [f"prediction.dec_rnn.lstm.{n}_l0" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert dec.prediction["embed"].weight.shape == (8, 16)  # vocab + blank (= pad)
    assert torch.all(dec.prediction["embed"].weight[7] == 0)
    bias_ih = dec.prediction["dec_rnn"].lstm.bias_ih_l0
    assert torch.all(bias_ih[16:32] == 1.0)  # forget gate bias 1.0
    assert torch.all(dec.prediction["dec_rnn"].lstm.bias_hh_l0[16:32] == 0.0)
    assert _decoder(blank_as_pad=False).prediction["embed"].weight.shape == (7, 16)


def test_decoder_forward_prepends_sos_and_matches_stepwise_predict():
    dec = _decoder()
    targets = torch.tensor([[1, 2, 3], [4, 0, 0]])
    lengths = torch.tensor([3, 1])
    g, out_len, _ = dec(targets=targets, target_length=lengths)
    assert g.shape == (2, 16, 4) and torch.equal(out_len, lengths)
    # step by step: SOS (zero vector) then each label, carrying the LSTM state
    out, state = dec.predict(None, None, add_sos=False, batch_size=2)
    steps = [out]
    for u in range(3):
        out, state = dec.predict(targets[:, u : u + 1], state, add_sos=False)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, dim=1).transpose(1, 2), g, atol=1e-6, rtol=0)
    # blank (= pad) embeds to zero, so predicting blank from the start equals SOS
    blank_out, _ = dec.predict(torch.full((2, 1), 7), None, add_sos=False)
    torch.testing.assert_close(blank_out, steps[0], atol=0, rtol=0)


def test_decoder_state_helpers():
    dec = _decoder()
    h, c = dec.initialize_state(torch.zeros(3, 1))
    assert h.shape == c.shape == (2, 3, 16) and not h.any()
    h = torch.randn(2, 3, 16)
    c = torch.randn(2, 3, 16)
    one = dec.batch_select_state([h, c], 1)
    assert torch.equal(one[0], h[:, 1]) and torch.equal(one[1], c[:, 1])
    stacked = dec.batch_concat_states([dec.batch_select_state([h, c], i) for i in range(3)])
    assert torch.equal(stacked[0], h) and torch.equal(stacked[1], c)
    dst = [torch.zeros_like(h), torch.zeros_like(c)]
    dec.batch_replace_states_mask([h, c], dst, torch.tensor([True, False, True]))
    assert torch.equal(dst[0][:, 0], h[:, 0]) and not dst[0][:, 1].any()


def test_label_collate_pads_lists():
    assert label_collate([[1, 2], [3]]).tolist() == [[1, 2], [3, 0]]
    assert label_collate(torch.tensor([[1]], dtype=torch.int32)).dtype == torch.int64
    with pytest.raises(ValueError):
        label_collate("abc")


def test_joint_keys_and_output_layout():
    joint = _joint(extra=5, dropout=0.1)
    assert list(joint.state_dict()) == ["pred.weight", "pred.bias", "enc.weight", "enc.bias", "joint_net.2.weight",
                                        "joint_net.2.bias"]
    assert list(_joint().state_dict())[-1] == "joint_net.1.bias"  # no dropout layer, as NeMo
    assert joint.num_classes_with_blank == 7 + 1 + 5 and joint.num_extra_outputs == 5
    f, g = torch.randn(2, 12, 5), torch.randn(2, 16, 3)
    out = joint(encoder_outputs=f, decoder_outputs=g)
    assert out.shape == (2, 5, 3, 13)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(2, 5, 3))  # CPU + log_softmax None: normalised
    raw = _joint(extra=5, dropout=0.1, log_softmax=False)
    raw.load_state_dict(joint.state_dict())
    logits = raw(encoder_outputs=f, decoder_outputs=g)
    torch.testing.assert_close(logits.log_softmax(-1), out)
    manual = raw.joint_net(raw.enc(f.transpose(1, 2)).unsqueeze(2) + raw.pred(g.transpose(1, 2)).unsqueeze(1))
    torch.testing.assert_close(logits, manual)


def test_joint_errors():
    with pytest.raises(ValueError, match="fused_batch_size"):
        RNNTJoint(jointnet={"encoder_hidden": 4, "pred_hidden": 4, "joint_hidden": 4, "activation": "relu"},
                  num_classes=3, fuse_loss_wer=True)
    with pytest.raises(ValueError, match="activation"):
        RNNTJoint(jointnet={"encoder_hidden": 4, "pred_hidden": 4, "joint_hidden": 4, "activation": "gelu"},
                  num_classes=3)
    with pytest.raises(ValueError, match="decoder_outputs"):
        _joint()(encoder_outputs=torch.randn(1, 12, 2), decoder_outputs=None)


def test_decoder_joint_onnx_export_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    dec, joint = _decoder(), _joint(extra=3)
    module = RNNTDecoderJoint(dec, joint)
    paths = []
    module.export(str(tmp_path / "dj.onnx"), check_trace=True)
    paths.append(tmp_path / "dj.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"])
    enc = torch.randn(2, 12, 6)
    targets = torch.tensor([[3], [5]], dtype=torch.int32)
    h, c = torch.randn(2, 2, 16), torch.randn(2, 2, 16)
    feeds = dict(zip([i.name for i in session.get_inputs()],
                     [enc.numpy(), targets.numpy(), torch.tensor([1, 1], dtype=torch.int32).numpy(), h.numpy(), c.numpy()]))
    got = session.run(None, feeds)
    with torch.no_grad():
        g, (h2, c2) = dec.predict(targets.long(), (h, c), add_sos=False)
        want = joint.joint(enc.transpose(1, 2), g)
    assert got[0].shape == tuple(want.shape)
    assert abs(got[0] - want.numpy()).max() < 1e-4
    assert abs(got[2] - h2.numpy()).max() < 1e-5 and abs(got[3] - c2.numpy()).max() < 1e-5
    assert dec._rnnt_export is False and joint._rnnt_export is False  # export state undone


def test_inference_single_steps_match_the_lstm():
    """Decoding's one-step path (eval, no grad: two matmuls per layer) equals nn.LSTM over the sequence."""
    dec = _decoder(layers=2, dropout=0.3)
    targets = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 1]])
    with torch.no_grad():
        g, _, (h_all, c_all) = dec(targets=targets, target_length=torch.tensor([4, 4]))
        out, state = dec.predict(None, None, add_sos=False, batch_size=2)
        steps = [out]
        for u in range(4):
            out, state = dec.predict(targets[:, u : u + 1], state, add_sos=False)
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps, dim=1).transpose(1, 2), g, atol=1e-6, rtol=0)
    torch.testing.assert_close(state[0], h_all, atol=1e-6, rtol=0)
    torch.testing.assert_close(state[1], c_all, atol=1e-6, rtol=0)
