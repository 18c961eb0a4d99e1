"""The shared audio-data path: CTC, transducer and hybrid models (char and subword) load manifests through
ASRAudioDataMixin, prepare each split once, and tokenise transcripts with their own vocabulary."""

import json

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from nemo.collections.asr.models import (
    EncDecCTCModel,
    EncDecCTCModelBPE,
    EncDecHybridRNNTCTCBPEModel,
    EncDecHybridRNNTCTCModel,
    EncDecRNNTBPEModel,
    EncDecRNNTModel,
)
from nemo.collections.asr.parts.mixins.audio_data import ASRAudioDataMixin
from tests.collections.asr.make_nemo_checkpoint import tone_corpus
from tests.collections.asr.test_models_rnnt import CLASSES, LABELS, _cfg

DATA_METHODS = ("_prepare_data_config", "_build_dataset", "_dataloader_for", "_setup_dataloader_from_config",
                "_setup_split", "setup_training_data", "setup_validation_data", "setup_test_data")


@pytest.mark.parametrize("cls", [EncDecCTCModel, EncDecCTCModelBPE, EncDecRNNTModel, EncDecRNNTBPEModel,
                                 EncDecHybridRNNTCTCModel, EncDecHybridRNNTCTCBPEModel])
def test_every_asr_model_inherits_the_one_data_path(cls):
    assert issubclass(cls, ASRAudioDataMixin)
    for name in DATA_METHODS:
        assert getattr(cls, name) is getattr(ASRAudioDataMixin, name), f"{cls.__name__}.{name} is not the mixin's"


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_transducer_splits_prepared_once_and_tokenised_with_the_models_vocabulary(kind, tmp_path, monkeypatch):
    manifest = tone_corpus(str(tmp_path), n=3, relative=True)
    cls, tdt, bpe, hybrid = CLASSES[kind]
    cfg = _cfg(tdt, bpe, hybrid)
    ds = {"manifest_filepath": manifest, "batch_size": 3, "num_workers": 0}
    with open_dict(cfg):
        cfg.train_ds, cfg.validation_ds = dict(ds), dict(ds)
    calls = []
    prepare = ASRAudioDataMixin._prepare_data_config
    monkeypatch.setattr(ASRAudioDataMixin, "_prepare_data_config",
                        lambda self, config, shuffle: calls.append(shuffle) or prepare(self, config, shuffle))
    model = cls(cfg=cfg)
    assert calls == [True, False]
    assert model.cfg.train_ds.shuffle is True
    assert isinstance(model.val_dataloader().sampler, torch.utils.data.SequentialSampler)
    assert model.cfg.train_ds.sample_rate == 16000 and list(model.cfg.train_ds.labels) == list(model.cfg.labels)
    texts = [json.loads(line)["text"] for line in open(manifest)]
    _, _, tokens, token_len = next(iter(model.val_dataloader()))[:4]
    got = [tokens[i, : int(token_len[i])].tolist() for i in range(len(texts))]
    if bpe:
        assert got == [model.tokenizer.text_to_ids(t) for t in texts]
    else:
        assert got == [[LABELS.index(c) for c in t] for t in texts]
    loader = model._setup_dataloader_from_config(OmegaConf.create(dict(ds, batch_size=2)))
    assert len(loader.dataset) == 3 and loader.batch_size == 2
