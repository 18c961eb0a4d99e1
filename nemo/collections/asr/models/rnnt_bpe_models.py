"""EncDecRNNTBPEModel: the transducer over SentencePiece subwords (Parakeet's class), tokenizer kept as artifacts."""

from typing import Optional, Union

from omegaconf import DictConfig, open_dict

from nemo.collections.asr.models.rnnt_models import EncDecRNNTModel
from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin
from nemo.utils import logging

__all__ = ["EncDecRNNTBPEModel"]


class EncDecRNNTBPEModel(EncDecRNNTModel, ASRBPEMixin):
    """Transducer over subword units; blank id = number of pieces, `cfg.labels` = the pieces."""

    _BPE = True

    def setup_before_data(self) -> None:
        """The tokenizer (data loaders need it) and the vocabulary it implies (`labels`), as artifacts."""
        super().setup_before_data()
        setup_transducer_tokenizer(self)

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
    vocabulary = model._load_new_tokenizer(new_tokenizer_dir, new_tokenizer_type)
    model._replace_heads(vocabulary, decoding_cfg)
    with open_dict(model._cfg):
        model._cfg.labels = vocabulary
    model.cfg = model._cfg
    logging.info(f"Changed decoder to output to {model.joint.vocabulary} vocabulary.")
