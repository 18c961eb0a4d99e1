"""`NLPModel`: the base of NLP models. Builds the tokenizer from `cfg.tokenizer` in `setup_before_data`,
registers tokenizer and encoder-config files as artifacts, and owns a private folder for the files it
writes (removed with the model)."""

import tempfile
from typing import Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo.core.classes.exportable import Exportable
from nemo.core.classes.modelPT import ModelPT
from nemo.utils import logging


class NLPModel(ModelPT, Exportable):
    """ModelPT plus tokenizer/encoder bookkeeping; the tokenizer exists before data loaders are set up."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None, no_lm_init: bool = False):
        self.hidden_size = None
        super().__init__(cfg=cfg, trainer=trainer)

    def setup_before_data(self) -> None:
        """A private folder for written files, and the tokenizer from `cfg.tokenizer` (data loaders need it)."""
        super().setup_before_data()
        self._files_dir = tempfile.TemporaryDirectory(prefix="nemo_nlp_")
        tok_cfg = self._cfg.get("tokenizer")
        if tok_cfg is not None and tok_cfg.get("tokenizer_name") and getattr(self, "tokenizer", None) is None:
            self.setup_tokenizer(tok_cfg)

    @property
    def files_dir(self) -> str:
        """A private folder for files the model writes (tokenizer vocab, encoder config)."""
        return self._files_dir.name

    def setup_tokenizer(self, cfg: DictConfig) -> None:
        """Build `self.tokenizer`; its files become the `tokenizer.*` artifacts of the `.nemo`."""
        from nemo.collections.nlp.modules.common.tokenizer_utils import get_tokenizer

        def artifact(key: str) -> Optional[str]:
            return self.register_artifact(f"tokenizer.{key}", cfg[key]) if cfg.get(key) else None

        vocab_file = artifact("vocab_file")
        tokenizer_model = artifact("tokenizer_model")
        tokenizer_config_file = artifact("tokenizer_config_file")
        self.tokenizer = get_tokenizer(
            tokenizer_name=cfg.tokenizer_name,
            tokenizer_model=tokenizer_model,
            vocab_file=vocab_file,
            special_tokens=cfg.get("special_tokens"),
            tokenizer_config_file=tokenizer_config_file,
        )
        if hasattr(self.tokenizer, "save_files") and (vocab_file is None or tokenizer_config_file is None):
            files = self.tokenizer.save_files(f"{self.files_dir}/tokenizer")
            for key, path in files.items():
                if not self._cfg.tokenizer.get(key):
                    self.register_artifact(f"tokenizer.{key}", path)

    def register_bert_model(self) -> None:
        """Register the encoder's HF config as `language_model.config_file`, so a restored model
        builds the same architecture (random init, then the saved weights) with no download."""
        from nemo.collections.nlp.modules.common.lm_utils import write_encoder_config

        name = self._cfg.language_model.get("pretrained_model_name")
        path = write_encoder_config(self.bert_model, f"{self.files_dir}/encoder", name)
        self.register_artifact("language_model.config_file", path)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Accept NeMo checkpoints: `position_ids` buffers (older transformers) and the
        data-derived `loss.weight` are not weights of this model."""
        state_dict = {k: v for k, v in state_dict.items() if not k.endswith("position_ids") and k != "loss.weight"}
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError:
            result = super().load_state_dict(state_dict, strict=False, assign=assign)
            if result.unexpected_keys or any(not k.endswith("_extra_state") for k in result.missing_keys):
                raise
            logging.warning(f"loaded with missing _extra_state keys: {result.missing_keys}")
            return result

    @classmethod
    def list_available_models(cls):
        return None
