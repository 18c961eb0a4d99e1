"""EncDecRNNTBPEModel: the transducer over SentencePiece subwords (Parakeet's class), tokenizer kept as artifacts."""

import os
from typing import Optional, Union

from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.collections.asr.models.rnnt_models import EncDecRNNTModel
from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin
from nemo.collections.asr.parts.submodules.rnnt_decoding import RNNTBPEDecoding
from nemo.utils import logging

__all__ = ["EncDecRNNTBPEModel"]


class EncDecRNNTBPEModel(EncDecRNNTModel, ASRBPEMixin):
    """Transducer over subword units; blank id = number of pieces, `cfg.labels` = the pieces."""

    _BPE = True

    def setup_before_data(self) -> None:
        """The tokenizer (data loaders need it) and the vocabulary it implies (`labels`), as artifacts."""
        super().setup_before_data()
        setup_transducer_tokenizer(self)

    def _build_decoding(self, decoding_cfg):
        return RNNTBPEDecoding(decoding_cfg=decoding_cfg, decoder=self.decoder, joint=self.joint,
                               tokenizer=self.tokenizer)

    def change_vocabulary(
        self,
        new_tokenizer_dir: Union[str, DictConfig],
        new_tokenizer_type: str,
        decoding_cfg: Optional[DictConfig] = None,
    ):
        """Switch to another tokenizer directory: new tokenizer artifacts, prediction net, joint, loss, decoding.

        The encoder (and preprocessor) keep their weights; the loss keeps its type (TDT stays TDT).
        """
        change_transducer_tokenizer(self, new_tokenizer_dir, new_tokenizer_type, decoding_cfg)


def setup_transducer_tokenizer(model) -> None:
    """Build `model.tokenizer` from `cfg.tokenizer`, set `cfg.labels` to its pieces, register the artifacts."""
    if "tokenizer" not in model._cfg:
        raise ValueError("`cfg` must have `tokenizer` config to create a tokenizer !")
    tokenizer_cfg = model._setup_tokenizer(model._cfg.tokenizer)
    vocabulary = list(model.tokenizer.tokenizer.get_vocab().keys())
    with open_dict(model._cfg):
        model._cfg.tokenizer = tokenizer_cfg
        model._cfg.labels = vocabulary
    model._register_tokenizer_artifacts()


def change_transducer_tokenizer(model, new_tokenizer_dir, new_tokenizer_type, decoding_cfg) -> None:
    """Load another tokenizer into a transducer model and rebuild its vocabulary-sized heads."""
    if isinstance(new_tokenizer_dir, DictConfig):
        tokenizer_cfg = OmegaConf.create(OmegaConf.to_container(new_tokenizer_dir))
    else:
        if not os.path.isdir(str(new_tokenizer_dir)):
            raise NotADirectoryError(f"New tokenizer dir must be non-empty path to a directory. But I got: "
                                     f"{new_tokenizer_dir}")
        if str(new_tokenizer_type).lower() not in ("bpe", "wpe"):
            raise ValueError(f"New tokenizer type must be either `bpe` or `wpe`, got {new_tokenizer_type}")
        tokenizer_cfg = OmegaConf.create({"dir": str(new_tokenizer_dir), "type": new_tokenizer_type})
    model._setup_tokenizer(tokenizer_cfg)
    for key in ("model_path", "vocab_path", "spe_tokenizer_vocab"):
        model.artifacts.pop(f"tokenizer.{key}", None)
    model._register_tokenizer_artifacts()
    vocabulary = list(model.tokenizer.tokenizer.get_vocab().keys())
    model._replace_heads(vocabulary, decoding_cfg)
    with open_dict(model._cfg):
        model._cfg.labels = vocabulary
    model.cfg = model._cfg
    logging.info(f"Changed decoder to output to {model.joint.vocabulary} vocabulary.")
