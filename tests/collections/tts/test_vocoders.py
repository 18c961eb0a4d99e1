"""HifiGanModel (NeMo key layout, GAN training, .nemo, ONNX parity) and GriffinLimModel."""

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from nemo.collections.tts.models import GriffinLimModel, HifiGanModel, Vocoder
from tests.collections.tts.conftest import SAMPLE_RATE, model_cfg, tiny_hifigan_cfg


@pytest.fixture(scope="module")
def hifigan(tts_corpus):
    torch.manual_seed(0)
    return HifiGanModel(model_cfg(tiny_hifigan_cfg(tts_corpus)))


def test_generator_shapes_and_legacy_weight_norm_keys(hifigan):
    assert isinstance(hifigan, Vocoder)
    audio = hifigan.convert_spectrogram_to_audio(spec=torch.randn(2, 80, 10))
    assert audio.shape == (2, 10 * 256)
    keys = hifigan.state_dict().keys()
    for k in ("generator.conv_pre.weight_g", "generator.conv_pre.weight_v", "generator.ups.0.weight_g",
              "generator.resblocks.0.0.convs1.0.weight_v", "generator.resblocks.2.0.convs2.1.bias",
              "generator.conv_post.weight_g", "mpd.discriminators.4.convs.0.weight_g",
              "mpd.discriminators.0.conv_post.weight_v", "msd.discriminators.0.convs.0.weight_orig",
              "msd.discriminators.0.convs.0.weight_u", "msd.discriminators.1.convs.0.weight_g",
              "audio_to_melspec_precessor.fb", "trg_melspec_fn.fb"):
        assert k in keys, k
    # the L1 target featurizer spans the full band; the input featurizer stops at highfreq (8 kHz)
    assert not torch.equal(hifigan.trg_melspec_fn.fb, hifigan.audio_to_melspec_precessor.fb)


def test_gan_training_steps(hifigan, tts_corpus):
    from omegaconf import open_dict

    hifigan.cfg.optim.lr = 2e-3
    train_ds = hifigan.cfg.train_ds
    with open_dict(train_ds):  # the same two whole utterances every step, so the L1 values are comparable
        train_ds.dataset.n_segments = None
        train_ds.dataloader_params.shuffle = False
    hifigan.setup_training_data(train_ds)
    history = []
    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, model, *args):
            history.append(model._last_train)
    trainer = pl.Trainer(max_steps=10, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_train_batches=1, limit_val_batches=0, callbacks=[Record()])
    trainer.fit(hifigan)
    assert len(history) == 5  # Lightning counts both optimizers' steps toward max_steps
    assert all(np.isfinite(h["g_loss"]) and np.isfinite(h["d_loss"]) for h in history)
    assert history[-1]["g_l1_loss"] < history[0]["g_l1_loss"], [h["g_l1_loss"] for h in history]


def test_save_restore_and_onnx_parity(hifigan, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    hifigan.save_to(str(tmp_path / "hg.nemo"))
    restored = HifiGanModel.restore_from(str(tmp_path / "hg.nemo"))
    spec = torch.randn(1, 80, 12)
    torch.testing.assert_close(restored.convert_spectrogram_to_audio(spec=spec),
                               hifigan.convert_spectrogram_to_audio(spec=spec))
    path = str(tmp_path / "hifigan.onnx")
    restored.export(path, check_trace=True, check_tolerance=1e-4)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    other = torch.randn(2, 80, 7)  # another batch and length than the export example
    (audio,) = session.run(None, {session.get_inputs()[0].name: other.numpy()})
    np.testing.assert_allclose(audio, restored.convert_spectrogram_to_audio(spec=other).numpy(), atol=1e-4)


def test_griffin_lim_inverts_the_shared_mel_featurizer(tts_corpus, tmp_path):
    from nemo.collections.asr.parts.preprocessing.features import FilterbankFeatures
    from nemo.collections.tts.data.dataset import load_audio, read_tts_manifest

    feat = FilterbankFeatures(sample_rate=SAMPLE_RATE, n_window_size=1024, n_window_stride=256, n_fft=1024,
                              nfilt=80, normalize=None, preemph=None, dither=0.0, pad_to=1, log=True,
                              log_zero_guard_type="add", log_zero_guard_value=1e-5, mag_power=1.0)
    gl = GriffinLimModel({"sample_rate": SAMPLE_RATE, "n_fft": 1024, "l_hop": 256, "n_mels": 80, "n_iters": 16})
    assert isinstance(gl, Vocoder)
    audio = torch.from_numpy(load_audio(read_tts_manifest(tts_corpus["dev"])[0]["audio_filepath"], SAMPLE_RATE))
    mel, mel_len = feat(audio[None], torch.tensor([len(audio)]))
    wav = gl.convert_spectrogram_to_audio(spec=mel[..., : int(mel_len)])
    assert wav.shape == (1, (int(mel_len) - 1) * 256)
    mel2, len2 = feat(wav, torch.tensor([wav.shape[1]]))
    n = int(len2)
    err = (mel2[0, :, :n] - mel[0, :, :n]).abs()
    voiced = mel[0, :, :n] > -6  # compare where there is energy
    assert float(err[voiced].mean()) < 1.0
    gl.save_to(str(tmp_path / "gl.nemo"))
    assert GriffinLimModel.restore_from(str(tmp_path / "gl.nemo")).n_iters == 16
