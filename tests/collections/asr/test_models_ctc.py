"""EncDecCTCModel: NeMo 3.0.0 archive compatibility, save/restore, training/eval steps and their logged names."""

import json
import tarfile

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModel
from tests.collections.asr.make_nemo_checkpoint import tone_corpus

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


@pytest.fixture(scope="module")
def golden_model():
    from tests.conftest import GOLDEN

    return EncDecCTCModel.restore_from(str(GOLDEN / "quartznet_small_nemo.nemo")).eval()


def _run_golden_input(model, golden):
    signal = torch.from_numpy(np.load(golden / "quartznet_small_input.npy"))[None]
    with torch.no_grad():
        return model(input_signal=signal, input_signal_length=torch.tensor([signal.shape[1]]))


def test_restore_nemo_archive_reproduces_nemo_outputs(golden_model, golden):
    model = golden_model
    assert type(model) is EncDecCTCModel
    assert OmegaConf.to_yaml(model.cfg) == (golden / "quartznet_small_config.yaml").read_text()
    log_probs, encoded_len, greedy = _run_golden_input(model, golden)
    expected = np.load(golden / "quartznet_small_logprobs.npy")
    assert np.abs(log_probs.numpy() - expected).max() < 1e-4
    assert encoded_len.tolist() == [50]
    top2 = np.sort(expected, axis=-1)[..., -2:]
    decisive = (top2[..., 1] - top2[..., 0]) > 1e-4
    assert np.array_equal(greedy.numpy()[decisive], np.load(golden / "quartznet_small_greedy.npy")[decisive])
    signal = torch.from_numpy(np.load(golden / "quartznet_small_input.npy"))[None]
    feats, _ = model.preprocessor(input_signal=signal, length=torch.tensor([signal.shape[1]]))
    assert np.abs(feats.numpy() - np.load(golden / "quartznet_small_features.npy")).max() < 1e-4


def test_forward_input_rules_and_processed_path(golden_model, golden):
    signal = torch.from_numpy(np.load(golden / "quartznet_small_input.npy"))[None]
    length = torch.tensor([signal.shape[1]])
    with pytest.raises(ValueError):
        golden_model()
    feats, feat_len = golden_model.preprocessor(input_signal=signal, length=length)
    with pytest.raises(ValueError):
        golden_model(input_signal=signal, input_signal_length=length, processed_signal=feats,
                     processed_signal_length=feat_len)
    with torch.no_grad():
        via_feats = golden_model(processed_signal=feats, processed_signal_length=feat_len)[0]
    torch.testing.assert_close(via_feats, _run_golden_input(golden_model, golden)[0])


def test_fresh_model_config_and_save_restore_round_trip(golden, tmp_path):
    cfg = OmegaConf.load(golden / "quartznet_small_config.yaml")
    for key in ("target", "nemo_version", "decoding"):
        del cfg[key]
    model = EncDecCTCModel(cfg=cfg)
    expected_cfg = OmegaConf.load(golden / "quartznet_small_config.yaml")
    assert OmegaConf.to_container(model.cfg.decoding) == OmegaConf.to_container(expected_cfg.decoding)
    assert model.cfg.target == "nemo.collections.asr.models.ctc_models.EncDecCTCModel"
    expected_keys = [line.split("\t")[0] for line in (golden / "quartznet_small_state_dict.txt").read_text().split("\n") if line]
    assert list(model.state_dict()) == expected_keys

    path = tmp_path / "qn.nemo"
    model.save_to(str(path))
    with tarfile.open(path) as tar:
        assert tar.getnames() == [".", "./model_config.yaml", "./model_weights.ckpt"]
    restored = EncDecCTCModel.restore_from(str(path)).eval()
    model.eval()
    x = torch.randn(2, 8000)
    n = torch.tensor([8000, 6000])
    with torch.no_grad():
        a, b = model(input_signal=x, input_signal_length=n), restored(input_signal=x, input_signal_length=n)
    torch.testing.assert_close(a[0], b[0])
    assert a[1].tolist() == b[1].tolist() == [25, 19]


def test_change_vocabulary_and_decoding_strategy(golden):
    model = EncDecCTCModel.restore_from(str(golden / "quartznet_small_nemo.nemo"))
    encoder_before = model.encoder.encoder[0].mconv[0].conv.weight.clone()
    model.change_vocabulary(["a", "b", "c"])
    assert model.decoder.num_classes_with_blank == 4
    assert model.loss.blank == 3 and model.decoding.blank_id == 3
    assert list(model.cfg.decoder.vocabulary) == ["a", "b", "c"] and model.cfg.decoder.num_classes == 3
    assert list(model.cfg.train_ds.labels) == ["a", "b", "c"]
    assert list(model.cfg.labels) == LABELS  # model-level labels stay
    assert torch.equal(model.encoder.encoder[0].mconv[0].conv.weight, encoder_before)
    assert tuple(model.state_dict()["decoder.decoder_layers.0.weight"].shape) == (4, 512, 1)

    model.change_decoding_strategy(OmegaConf.create({"strategy": "greedy", "temperature": 2.0}), verbose=False)
    assert model.cfg.decoding.strategy == "greedy" and model.decoder.temperature == 2.0
    assert "beam" in model.cfg.decoding  # merged over the full default config
    with pytest.raises(ValueError):
        model.change_vocabulary([])


def _write_corpus(root, n=6, sr=16000):
    """The tone corpus with manifest-relative audio paths."""
    return tone_corpus(str(root), n, sr, relative=True)


def _tiny_cfg(manifest):
    block = dict(filters=32, repeat=1, kernel=[5], stride=[1], dilation=[1], dropout=0.0, residual=False,
                 separable=True)
    ds = {"manifest_filepath": manifest, "batch_size": 3, "shuffle": False, "num_workers": 0}
    return OmegaConf.create({
        "sample_rate": 16000,
        "labels": LABELS,
        "train_ds": dict(ds, shuffle=True),
        "validation_ds": ds,
        "test_ds": ds,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "features": 32, "n_fft": 512, "dither": 0.0},
        "spec_augment": {"_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
                         "rect_masks": 1, "rect_time": 5, "rect_freq": 5},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 32, "activation": "relu",
                    "conv_mask": True,
                    "jasper": [dict(block, stride=[2], kernel=[11]), dict(block, repeat=2, residual=True),
                               dict(block, filters=64, kernel=[1], separable=False)]},
        "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None, "num_classes": -1,
                    "vocabulary": LABELS},
        "optim": {"name": "adam", "lr": 0.01},
    })


@pytest.mark.slow
def test_training_loss_falls_and_nemo_metric_names_are_logged(tmp_path):
    pl.seed_everything(0)
    manifest = _write_corpus(tmp_path)
    trainer = pl.Trainer(max_steps=16, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
                         check_val_every_n_epoch=5, num_sanity_val_steps=0)
    model = EncDecCTCModel(cfg=_tiny_cfg(manifest), trainer=trainer)
    assert model.cfg.decoder.feat_in == 64  # filled from the encoder
    assert model.cfg.train_ds.sample_rate == 16000 and list(model.cfg.train_ds.labels) == LABELS

    batch = next(iter(model.train_dataloader()))
    model.eval()
    with torch.no_grad():
        first_loss = model.validation_pass(batch, 0)["val_loss"].item()
    model.train()
    trainer.fit(model)
    metrics = trainer.callback_metrics
    for name in ("train_loss", "learning_rate", "global_step", "training_batch_wer", "val_loss", "val_wer"):
        assert name in metrics, name
    model.eval()
    with torch.no_grad():
        last_loss = model.validation_pass(batch, 0)["val_loss"].item()
    print(f"loss {first_loss:.3f} -> {last_loss:.3f}")
    assert last_loss < 0.5 * first_loss

    results = trainer.test(model, verbose=False)[0]
    assert {"test_loss", "test_wer"} <= set(results)
    assert 0.0 <= results["test_wer"]


def test_onnx_export_matches_pytorch(golden_model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "qn.onnx"
    example = (torch.randn(2, 64, 160), torch.tensor([160, 160]))
    golden_model.export(str(path), input_example=example)
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["audio_signal"]
    assert [o.name for o in session.get_outputs()] == ["logprobs"]
    features = torch.randn(3, 64, 96)  # other batch and time sizes: the axes are dynamic
    (got,) = session.run(None, {"audio_signal": features.numpy()})
    with torch.no_grad():
        expected = golden_model.forward_for_export(features, torch.full((3,), 96))
    assert np.abs(got - expected.numpy()).max() < 1e-4
    assert golden_model.encoder.encoder[0].mconv[0].use_mask  # masking restored after export


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_forward_matches_cpu_and_bf16_training_step(golden_model, golden, tmp_path):
    cpu_log_probs = _run_golden_input(golden_model, golden)[0]
    model = EncDecCTCModel.restore_from(str(golden / "quartznet_small_nemo.nemo"), map_location="cuda").eval()
    signal = torch.from_numpy(np.load(golden / "quartznet_small_input.npy"))[None].cuda()
    allow = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            log_probs = model(input_signal=signal, input_signal_length=torch.tensor([signal.shape[1]], device="cuda"))[0]
    finally:
        torch.backends.cudnn.allow_tf32 = allow
    assert (log_probs.cpu() - cpu_log_probs).abs().max() < 1e-3
    model.train()
    manifest = _write_corpus(tmp_path)
    model.setup_training_data({"manifest_filepath": manifest, "batch_size": 3, "shuffle": True})
    batch = [t.cuda() for t in next(iter(model.train_dataloader()))]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model.training_step(batch, 0)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and model.decoder.decoder_layers[0].weight.grad is not None
    hyps = model.transcribe([np.load(golden / "quartznet_small_input.npy")], verbose=False)
    assert len(hyps) == 1 and model.training


def test_two_validation_sets_log_prefixed_corpus_wer(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _write_corpus(tmp_path / "a", n=3), _write_corpus(tmp_path / "b", n=4)
    cfg = _tiny_cfg(first)
    cfg.validation_ds.manifest_filepath = [first, second]
    cfg.validation_ds.name = ["clean", "other"]
    del cfg.test_ds
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    model = EncDecCTCModel(cfg=cfg, trainer=trainer)
    assert len(model.val_dataloader()) == 2
    results = trainer.validate(model, verbose=False)
    logged = trainer.callback_metrics
    for name in ("val_loss", "val_wer", "clean_val_loss", "clean_val_wer", "other_val_loss", "other_val_wer"):
        assert name in logged, name
    assert logged["val_wer"] == logged["clean_val_wer"]  # the first loader's metrics also stay un-prefixed
    assert len(results) == 2
    # corpus WER over both batches (3 + 1 utterances), not the mean of per-batch WERs
    from nemo.collections.asr.metrics.wer import word_error_rate

    lines = [json.loads(line) for line in open(second)]
    hyps = model.transcribe([str(tmp_path / "b" / x["audio_filepath"]) for x in lines], verbose=False)
    expected = word_error_rate([h.text for h in hyps], [x["text"] for x in lines])
    assert logged["other_val_wer"].item() == pytest.approx(expected)


def test_data_config_prepared_once_and_recorded(tmp_path, monkeypatch):
    manifest = _write_corpus(tmp_path, n=3)
    cfg = _tiny_cfg(manifest)
    del cfg.validation_ds.shuffle
    calls = []
    prepare = EncDecCTCModel._prepare_data_config
    monkeypatch.setattr(EncDecCTCModel, "_prepare_data_config",
                        lambda self, config, shuffle: calls.append(shuffle) or prepare(self, config, shuffle))
    model = EncDecCTCModel(cfg=cfg)
    assert calls == [True, False, False]  # train, validation, test: one preparation each
    assert model.cfg.train_ds.sample_rate == 16000 and list(model.cfg.train_ds.labels) == LABELS
    assert model.cfg.train_ds.shuffle is True and model.val_dataloader().dataset.sample_rate == 16000
    assert len(model.train_dataloader().dataset) == 3
    calls.clear()
    loader = model._setup_dataloader_from_config({"manifest_filepath": manifest, "batch_size": 2})
    assert calls == [False] and len(loader.dataset) == 3 and loader.batch_size == 2
