"""`get_lm_model`: a Hugging Face BERT-family encoder from a pretrained name or local folder, an HF
JSON config file, or a config dict. Only code that builds an encoder imports `transformers`.

Unlike NeMo, the model family is read from the config (file, dict or the folder's config.json) so
building from a config, as a restored `.nemo` does, never touches the network or the HF cache.
"""

import json
import os
from typing import Any, Dict, Optional, Union

import torch

from nemo.utils import logging

_ENCODER_CLASSES: Dict[str, type] = {}
_SUPPORTED = ("bert", "distilbert", "roberta", "camembert", "albert", "electra", "xlm-roberta", "mpnet", "deberta-v2")


def _hf():
    import transformers

    return transformers


def encoder_class(model_type: str) -> type:
    """A subclass of the HF model class for `model_type` whose `forward` returns only the last
    hidden states (B, T, H), with NeMo's (input_ids, attention_mask, token_type_ids) arguments."""
    if model_type in _ENCODER_CLASSES:
        return _ENCODER_CLASSES[model_type]
    if model_type not in _SUPPORTED:
        raise ValueError(f"language model type {model_type!r} is not supported; use one of {list(_SUPPORTED)}")
    transformers = _hf()
    base = transformers.MODEL_MAPPING[transformers.CONFIG_MAPPING[model_type]]
    takes_types = model_type not in ("distilbert",)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if takes_types and token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return base.forward(self, **kwargs, return_dict=True).last_hidden_state

    cls = type(base.__name__.replace("Model", "Encoder"), (base,), {"forward": forward, "__module__": __name__})
    _ENCODER_CLASSES[model_type] = cls
    return cls


def _config_from_dict(config_dict: Dict[str, Any]):
    d = dict(config_dict)
    model_type = d.pop("model_type", "bert")
    return _hf().AutoConfig.for_model(model_type, **d)


def _config_from_file(config_file: str):
    with open(config_file, encoding="utf-8") as f:
        return _config_from_dict(json.load(f))


def get_lm_model(
    config_file: Optional[str] = None,
    config_dict: Optional[Union[dict, Any]] = None,
    vocab_file: Optional[str] = None,
    trainer=None,
    cfg=None,
):
    """Build the encoder named by `cfg.language_model.pretrained_model_name`.

    Precedence as in NeMo: `config_file` (random init) > `config_dict` (random init) > pretrained
    weights from the name (a local folder, or an HF hub name already in the cache).
    `cfg.language_model.lm_checkpoint` (a torch state dict) is loaded on top when set.
    `vocab_file` is accepted for NeMo's signature; the tokenizer owns the vocabulary.
    """
    lm_cfg = cfg.get("language_model", {}) if cfg is not None else {}
    name = lm_cfg.get("pretrained_model_name") if lm_cfg else None
    if config_dict is not None and not isinstance(config_dict, dict):
        from omegaconf import OmegaConf

        config_dict = OmegaConf.to_container(config_dict, resolve=True)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"language_model.config_file not found: {config_file}")
        config = _config_from_file(config_file)
        model = encoder_class(config.model_type)(config)
    elif config_dict:
        config = _config_from_dict(config_dict)
        model = encoder_class(config.model_type)(config)
    else:
        if not name:
            raise ValueError("language_model.pretrained_model_name is required when neither config_file nor config is given")
        config = _hf().AutoConfig.from_pretrained(name)
        # HF returns pretrained models in eval mode; a new module trains (dropout on) like any other
        model = encoder_class(config.model_type).from_pretrained(name).train()
    checkpoint = lm_cfg.get("lm_checkpoint") if lm_cfg else None
    if checkpoint:
        restore_weights(model, checkpoint)
    return model


def restore_weights(model: torch.nn.Module, path: str) -> None:
    """Load encoder weights saved by torch (optionally under `state_dict`, optionally with a
    `bert...` prefix); every key of the encoder must be present."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"language_model.lm_checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    own = model.state_dict()
    cleaned = {}
    for key, value in state.items():
        if key not in own and "." in key and key.split(".", 1)[0].startswith("bert"):
            key = key.split(".", 1)[1]
        if key in own:
            cleaned[key] = value
    missing = sorted(set(own) - set(cleaned))
    if missing:
        raise ValueError(f"{path}: {len(missing)} encoder weights are missing, e.g. {missing[:3]}")
    model.load_state_dict(cleaned)
    logging.info(f"encoder weights loaded from {path}")


def write_encoder_config(model, directory: str, name: Optional[str]) -> str:
    """Write the encoder's HF config as `<name>_encoder_config.json` in `directory` (the
    `language_model.config_file` artifact that lets a restored model rebuild offline)."""
    os.makedirs(directory, exist_ok=True)
    stem = (os.path.basename(os.path.normpath(name)) if name and os.path.isdir(name) else (name or "lm")).replace("/", "_")
    path = os.path.join(directory, f"{stem}_encoder_config.json")
    d = model.config.to_dict()
    d["model_type"] = model.config.model_type
    for key in ("_name_or_path", "transformers_version", "architectures", "_attn_implementation_autoset", "dtype", "torch_dtype"):
        d.pop(key, None)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(d, f, indent=2, sort_keys=True)
    return path
