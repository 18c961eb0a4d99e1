"""TTS test settings and tiny model configs (the espeak corpus `tts_corpus` is in tests/collections/conftest.py)."""

import os

import pytest
from omegaconf import OmegaConf

from tests.collections.conftest import SAMPLE_RATE, torch_threads

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONF = os.path.join(REPO, "examples", "tts", "conf")


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """These tests run on shared 2-core machines, where one thread is several times faster than two."""
    with torch_threads(1):
        yield


def _load(name, **top):
    cfg = OmegaConf.load(os.path.join(CONF, name))
    for k, v in top.items():
        OmegaConf.update(cfg, k, v, force_add=True)
    return cfg


def tiny_fastpitch_cfg(corpus, sup_dir, n_mels=80, sample_rate=SAMPLE_RATE, hop=256, n_fft=1024, batch_size=4):
    """The example YAML with 1-layer d=32 transformers, yin pitch and a char tokenizer: builds in ~0.1 s."""
    cfg = _load("fastpitch.yaml", train_dataset=corpus["train"], validation_datasets=corpus["dev"],
                sup_data_path=str(sup_dir), pitch_mean=100.0, pitch_std=20.0, pitch_method="yin",
                pitch_fmax=400.0, n_mel_channels=n_mels, sample_rate=sample_rate, n_window_stride=hop,
                n_window_size=n_fft, n_fft=n_fft, highfreq=None)
    m = cfg.model
    m.symbols_embedding_dim = 32
    for fft in (m.input_fft, m.output_fft):
        fft.n_layer, fft.d_head, fft.d_inner, fft.dropout, fft.dropatt = 1, 16, 64, 0.0, 0.0
    for pred in (m.duration_predictor, m.pitch_predictor):
        pred.filter_size, pred.dropout = 32, 0.0
    m.bin_loss_warmup_epochs = 1
    m.text_tokenizer = {"_target_": "nemo.collections.tts.parts.tokenizers.EnglishCharsTokenizer",
                        "pad_with_space": True}
    m.train_ds.dataloader_params.batch_size = batch_size
    m.validation_ds.dataloader_params.batch_size = batch_size
    m.optim.sched = None
    return cfg


def model_cfg(cfg):
    """The resolved `model` section of a full example config."""
    return OmegaConf.create(OmegaConf.to_container(cfg.model, resolve=True))


def tiny_tacotron2_cfg(corpus):
    cfg = _load("tacotron2.yaml", train_dataset=corpus["train"], validation_datasets=corpus["dev"])
    m = cfg.model
    m.text_tokenizer = {"_target_": "nemo.collections.tts.parts.tokenizers.EnglishCharsTokenizer",
                        "pad_with_space": True}
    m.encoder.encoder_embedding_dim = 32
    m.encoder.encoder_n_convolutions = 1
    d = m.decoder
    d.decoder_rnn_dim, d.attention_rnn_dim, d.prenet_dim, d.attention_dim = 32, 32, 16, 16
    d.attention_location_n_filters, d.attention_location_kernel_size, d.max_decoder_steps = 4, 7, 20
    d.p_attention_dropout = d.p_decoder_dropout = 0.0
    m.postnet.postnet_embedding_dim, m.postnet.postnet_n_convolutions, m.postnet.p_dropout = 16, 2, 0.0
    m.train_ds.dataloader_params.batch_size = 4
    m.validation_ds.dataloader_params.batch_size = 2
    m.optim.sched = None
    return cfg


def tiny_hifigan_cfg(corpus, n_segments=2048):
    cfg = _load("hifigan.yaml", train_dataset=corpus["train"], validation_datasets=corpus["dev"],
                train_n_segments=n_segments, val_n_segments=None, val_min_duration=None, train_min_duration=None)
    g = cfg.model.generator
    g.upsample_rates, g.upsample_kernel_sizes, g.upsample_initial_channel = [8, 8, 4], [16, 16, 8], 32
    g.resblock_kernel_sizes, g.resblock_dilation_sizes = [3], [[1, 3]]
    cfg.model.train_ds.dataloader_params.batch_size = 2
    cfg.model.validation_ds.dataloader_params.batch_size = 2
    cfg.model.max_steps = 10
    OmegaConf.update(cfg, "model.discriminator_width", 1 / 16, force_add=True)
    return cfg
