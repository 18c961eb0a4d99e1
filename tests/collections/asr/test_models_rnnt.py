"""Transducer models on tiny configs: each class saves, restores and re-saves; fused and unfused joint losses
agree; change_vocabulary keeps the encoder; the hybrid switches heads; transcribe timestamps; ONNX export."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import (
    EncDecHybridRNNTCTCBPEModel,
    EncDecHybridRNNTCTCModel,
    EncDecRNNTBPEModel,
    EncDecRNNTModel,
)
from nemo.collections.asr.parts.submodules.rnnt_greedy_decoding import GreedyBatchedTDTInfer, GreedyRNNTInfer

TOKENIZER = str(Path(__file__).resolve().parent / "data" / "fastconformer" / "tokenizer")
LABELS = list(" abcdefghijklmnopqrstuvwxyz'")
DURATIONS = [0, 1, 2, 3]


def _cfg(tdt: bool, bpe: bool, hybrid: bool, fused: bool = False):
    cfg = {
        "sample_rate": 16000,
        "model_defaults": {"enc_hidden": 32, "pred_hidden": 24, "joint_hidden": 24},
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor", "features": 32,
                         "dither": 0.0},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": 32, "n_layers": 1,
                    "d_model": 32, "n_heads": 2, "subsampling": "dw_striding", "subsampling_factor": 4,
                    "subsampling_conv_channels": 8, "ff_expansion_factor": 2, "conv_kernel_size": 5,
                    "dropout": 0.0, "dropout_pre_encoder": 0.0, "dropout_att": 0.0},
        "decoder": {"_target_": "nemo.collections.asr.modules.RNNTDecoder", "blank_as_pad": True,
                    "prednet": {"pred_hidden": 24, "pred_rnn_layers": 1, "dropout": 0.0}},
        "joint": {"_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None, "fuse_loss_wer": fused,
                  "fused_batch_size": 2, "jointnet": {"joint_hidden": 24, "activation": "relu", "dropout": 0.0}},
        "decoding": {"strategy": "greedy_batch", "greedy": {"max_symbols": 5}},
        "loss": {"loss_name": "default"},
    }
    if bpe:
        cfg["tokenizer"] = {"dir": TOKENIZER, "type": "bpe"}
    else:
        cfg["labels"] = LABELS
    if tdt:
        cfg["joint"]["num_extra_outputs"] = len(DURATIONS)
        cfg["decoding"].update({"model_type": "tdt", "durations": DURATIONS})
        cfg["loss"] = {"loss_name": "tdt", "tdt_kwargs": {"durations": DURATIONS, "sigma": 0.02, "omega": 0.0}}
    if hybrid:
        cfg["aux_ctc"] = {"ctc_loss_weight": 0.3,
                          "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None,
                                      "num_classes": -1, "vocabulary": [] if bpe else LABELS}}
    return OmegaConf.create(cfg)


CLASSES = {
    "rnnt_char": (EncDecRNNTModel, False, False, False),
    "tdt_bpe": (EncDecRNNTBPEModel, True, True, False),
    "hybrid_char_tdt": (EncDecHybridRNNTCTCModel, True, False, True),
    "hybrid_bpe_rnnt": (EncDecHybridRNNTCTCBPEModel, False, True, True),
}


def _model(kind, fused=False, seed=0):
    cls, tdt, bpe, hybrid = CLASSES[kind]
    torch.manual_seed(seed)
    return cls(cfg=_cfg(tdt, bpe, hybrid, fused)).eval()


def _audio(batch=2, seconds=(0.9, 0.6), seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(s * 16000) for s in seconds[:batch]])
    signal = torch.randn(batch, int(lengths.max()), generator=g) * 0.1
    for i, n in enumerate(lengths):
        signal[i, n:] = 0
    return signal, lengths


def _batch(model, seed=0):
    signal, lengths = _audio(seed=seed)
    if getattr(model, "tokenizer", None) is not None:
        texts = [model.tokenizer.text_to_ids("one two"), model.tokenizer.text_to_ids("six")]
    else:
        texts = [[LABELS.index(c) for c in "one two"], [LABELS.index(c) for c in "six"]]
    u = max(len(t) for t in texts)
    targets = torch.tensor([t + [0] * (u - len(t)) for t in texts])
    return signal, lengths, targets, torch.tensor([len(t) for t in texts])


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_each_class_saves_restores_and_resaves(kind, tmp_path):
    model = _model(kind)
    cls = CLASSES[kind][0]
    signal, lengths = _audio()
    with torch.no_grad():
        enc, enc_len = model(input_signal=signal, input_signal_length=lengths)
        hyps = model.decoding.rnnt_decoder_predictions_tensor(enc, enc_len, return_hypotheses=True)
    assert enc.shape[1] == 32 and enc_len.tolist() == [23, 15]
    model.save_to(str(tmp_path / "a.nemo"))
    again = cls.restore_from(str(tmp_path / "a.nemo"), map_location="cpu").eval()
    assert type(again) is cls
    with torch.no_grad():
        enc2, _ = again(input_signal=signal, input_signal_length=lengths)
        hyps2 = again.decoding.rnnt_decoder_predictions_tensor(enc2, enc_len, return_hypotheses=True)
    torch.testing.assert_close(enc2, enc, atol=1e-6, rtol=0)
    assert [h.y_sequence.tolist() for h in hyps2] == [h.y_sequence.tolist() for h in hyps]
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    again.save_to(str(tmp_path / "b.nemo"))
    first_cfg = cls.restore_from(str(tmp_path / "a.nemo"), return_config=True)
    second_cfg = cls.restore_from(str(tmp_path / "b.nemo"), return_config=True)
    assert OmegaConf.to_container(second_cfg) == OmegaConf.to_container(first_cfg)
    if CLASSES[kind][1]:
        assert list(again.cfg.decoding.durations) == DURATIONS
        assert isinstance(again.decoding.decoding, GreedyBatchedTDTInfer)


@pytest.mark.parametrize("kind", ["tdt_bpe", "rnnt_char"])
def test_training_step_fused_and_unfused_joint_give_the_same_loss(kind):
    unfused, fused = _model(kind, fused=False), _model(kind, fused=True)
    fused.load_state_dict(unfused.state_dict())
    batch = _batch(unfused)
    unfused.train(), fused.train()
    a = unfused.training_step(batch, 0)["loss"]
    b = fused.training_step(batch, 0)["loss"]
    assert torch.isfinite(a) and a.item() > 0
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # same math on narrowed sub-batches
    a.backward()
    grads = [p.grad for p in unfused.encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    unfused.eval()
    logs = unfused.validation_pass(batch, 0)
    assert {"val_loss", "val_wer", "val_wer_num", "val_wer_denom"} <= set(logs)


def test_hybrid_training_mixes_transducer_and_ctc_losses():
    model = _model("hybrid_char_tdt")
    model.train()
    batch = _batch(model)
    loss = model.training_step(batch, 0)["loss"]
    with torch.no_grad():  # still in training mode: BatchNorm uses the batch statistics, as in the step
        enc, enc_len = model(input_signal=batch[0], input_signal_length=batch[1])
        rnnt, _ = model._transducer_loss(enc, enc_len, batch[2], batch[3], False)
        ctc = model.ctc_loss(log_probs=model.ctc_decoder(encoder_output=enc), targets=batch[2], input_lengths=enc_len,
                             target_lengths=batch[3])
    torch.testing.assert_close(loss.detach(), 0.7 * rnnt + 0.3 * ctc, atol=1e-4, rtol=1e-4)
    model.eval()
    logs = model.validation_pass(batch, 0)
    assert {"val_wer_ctc", "val_wer_num_ctc", "val_ctc_loss", "val_rnnt_loss"} <= set(logs)


def test_bpe_change_vocabulary_keeps_encoder_and_tdt(tmp_path):
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    model = _model("tdt_bpe")
    encoder = copy.deepcopy(model.encoder.state_dict())
    (tmp_path / "text.txt").write_text("\n".join(["one two three", "four five six", "seven eight nine"] * 20) + "\n")
    create_spt_model(str(tmp_path / "text.txt"), 24, -1, True, tokenizer_type="bpe", output_dir=str(tmp_path / "spe"))
    model.change_vocabulary(str(tmp_path / "spe"), "bpe")
    pieces = model.tokenizer.vocab_size
    assert pieces != 128
    assert model.joint.num_classes_with_blank == pieces + 1 + len(DURATIONS)
    assert model.decoder.prediction["embed"].weight.shape[0] == pieces + 1
    assert model.decoding.blank_id == pieces and list(model.cfg.decoding.durations) == DURATIONS
    assert len(model.cfg.labels) == pieces and model.cfg.joint.num_classes == pieces
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, encoder[key]), key
    model.train()
    assert torch.isfinite(model.training_step(_batch(model), 0)["loss"])
    model.save_to(str(tmp_path / "new.nemo"))
    again = EncDecRNNTBPEModel.restore_from(str(tmp_path / "new.nemo"))
    assert again.tokenizer.vocab_size == pieces
    with pytest.raises(NotADirectoryError):
        model.change_vocabulary(str(tmp_path / "missing"), "bpe")


def test_char_change_vocabulary_rebuilds_both_heads_of_a_hybrid():
    model = _model("hybrid_char_tdt")
    encoder = copy.deepcopy(model.encoder.state_dict())
    new = list(" abc")
    model.change_vocabulary(new)
    assert model.joint.vocabulary == new and model.decoder.vocab_size == 4
    assert list(model.ctc_decoder.vocabulary) == new and model.ctc_decoder.num_classes_with_blank == 5
    assert list(model.cfg.labels) == new
    assert all(torch.equal(v, encoder[k]) for k, v in model.encoder.state_dict().items())
    with pytest.raises(ValueError):
        model.change_vocabulary([])


def test_hybrid_switches_between_transducer_and_ctc_decoding():
    model = _model("hybrid_bpe_rnnt")
    audio = [a[:n].numpy() for a, n in zip(*_audio())]
    rnnt = model.transcribe(audio, batch_size=2, verbose=False)
    model.change_decoding_strategy(decoder_type="ctc", verbose=False)
    ctc = model.transcribe(audio, batch_size=2, return_hypotheses=True, verbose=False)
    with torch.no_grad():
        enc, enc_len = model(input_signal=_audio()[0], input_signal_length=_audio()[1])
        want = model.ctc_decoding.ctc_decoder_predictions_tensor(model.ctc_decoder(encoder_output=enc), enc_len)
    assert [h.text for h in ctc] == [h.text for h in want]
    assert ctc[0].y_sequence.shape == (23, 129)
    with_ts = model.transcribe(audio, batch_size=2, timestamps=True, verbose=False)
    assert model.cfg.aux_ctc.decoding.compute_timestamps is True
    assert set(with_ts[0].timestamp) >= {"char", "word", "segment"}
    model.change_decoding_strategy(decoder_type="rnnt", verbose=False)
    assert [h.text for h in model.transcribe(audio, batch_size=2, verbose=False)] == [h.text for h in rnnt]
    with pytest.raises(ValueError, match="decoder_type"):
        model.change_decoding_strategy(decoder_type="las")


def test_transcribe_timestamps_in_seconds_and_strategy_change():
    model = _model("tdt_bpe")
    with torch.no_grad():
        model.joint.joint_net[-1].bias[model.decoding.blank_id] -= 5.0  # make it emit tokens
    audio = [a[:n].numpy() for a, n in zip(*_audio())]
    hyps = model.transcribe(audio, batch_size=2, timestamps=True, verbose=False)
    stride = 0.01 * 4
    for h in hyps:
        assert h.text and len(h.token_duration) == len(h.y_sequence)
        for entry in h.timestamp["char"] + h.timestamp["word"] + h.timestamp["segment"]:
            assert entry["start"] == pytest.approx(entry["start_offset"] * stride)
            assert entry["end"] == pytest.approx(entry["end_offset"] * stride)
    plain = model.transcribe(audio, batch_size=2, timestamps=False, verbose=False)
    assert [h.text for h in plain] == [h.text for h in hyps] and plain[0].timestamp == []
    cfg = model.cfg.decoding.copy()
    cfg.strategy = "greedy"
    model.change_decoding_strategy(cfg, verbose=False)
    assert [h.text for h in model.transcribe(audio, batch_size=1, verbose=False)] == [h.text for h in hyps]
    char = _model("rnnt_char")
    cfg = char.cfg.decoding.copy()
    cfg.strategy = "greedy"
    char.change_decoding_strategy(cfg, verbose=False)
    assert isinstance(char.decoding.decoding, GreedyRNNTInfer)


@pytest.mark.parametrize("kind", ["rnnt_char", "tdt_bpe"])
def test_beam_strategy_runs_on_the_models_prediction_net(kind):
    """`strategy: beam` (rnnt_beam_decoding / tdt_beam_decoding) on RNNTDecoder's score_hypothesis API; for
    RNN-T a beam of 1 is the greedy search."""
    model = _model(kind)
    with torch.no_grad():
        model.joint.joint_net[-1].bias[model.decoding.blank_id] -= 0.5
    audio = [a[:n].numpy() for a, n in zip(*_audio())]
    greedy_cfg = model.cfg.decoding.copy()
    greedy_cfg.strategy = "greedy"
    model.change_decoding_strategy(greedy_cfg, verbose=False)
    greedy = [h.text for h in model.transcribe(audio, batch_size=2, verbose=False)]
    cfg = model.cfg.decoding.copy()
    cfg.strategy = "beam"
    cfg.beam = {"beam_size": 1 if kind == "rnnt_char" else 2, "return_best_hypothesis": True, "max_symbols_per_step": 5}
    model.change_decoding_strategy(cfg, verbose=False)
    assert type(model.decoding.decoding).__name__ == ("BeamRNNTInfer" if kind == "rnnt_char" else "BeamTDTInfer")
    beam = model.transcribe(audio, batch_size=2, verbose=False)
    assert all(h.text for h in beam)
    if kind == "rnnt_char":
        assert [h.text for h in beam] == greedy


def test_onnx_export_of_encoder_and_decoder_joint_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _model("tdt_bpe")
    paths, _ = model.export(str(tmp_path / "tdt.onnx"))
    assert [Path(p).name for p in paths] == ["encoder-tdt.onnx", "decoder_joint-tdt.onnx"]
    signal, lengths = _audio()
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=signal, length=lengths)
        enc, enc_len = model.encoder(audio_signal=feats, length=feat_len)
    session = ort.InferenceSession(paths[0], providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, dict(zip(names, [feats.numpy(), feat_len.numpy()])))
    assert np.abs(out[0] - enc.numpy()).max() < 1e-4
    assert out[1].tolist() == enc_len.tolist()
    session = ort.InferenceSession(paths[1], providers=["CPUExecutionProvider"])
    targets = torch.tensor([[5], [7]], dtype=torch.int32)
    h, c = model.decoder.initialize_state(torch.zeros(2, 1))
    feeds = dict(zip([i.name for i in session.get_inputs()],
                     [enc.numpy(), targets.numpy(), np.array([1, 1], dtype=np.int32), h.numpy(), c.numpy()]))
    got = session.run(None, feeds)
    with torch.no_grad():
        g, _ = model.decoder.predict(targets.long(), (h, c), add_sos=False)
        want = model.joint.joint(enc.transpose(1, 2), g)
    assert got[0].shape == tuple(want.shape) and np.abs(got[0] - want.numpy()).max() < 1e-4


def test_hybrid_in_ctc_mode_exports_encoder_and_ctc_head_as_one_graph(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _model("hybrid_bpe_rnnt")
    model.change_decoding_strategy(decoder_type="ctc", verbose=False)
    paths, _ = model.export(str(tmp_path / "ctc.onnx"))
    assert [Path(p).name for p in paths] == ["ctc.onnx"]
    signal, lengths = _audio()
    with torch.no_grad():
        feats, feat_len = model.preprocessor(input_signal=signal, length=lengths)
        enc, _ = model.encoder(audio_signal=feats, length=feat_len)
        want = model.ctc_decoder(encoder_output=enc)
    session = ort.InferenceSession(paths[0], providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip([i.name for i in session.get_inputs()], [feats.numpy(), feat_len.numpy()])))
    assert got[0].shape == tuple(want.shape) and np.abs(got[0] - want.numpy()).max() < 1e-4
