"""EncDecCTCModelBPE: the CTC model over SentencePiece subwords, tokenizer kept as artifacts (spec §3)."""

from typing import Optional, Union

from omegaconf import DictConfig, open_dict

from nemo.collections.asr.models.ctc_models import EncDecCTCModel
from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin
from nemo.utils import logging

__all__ = ["EncDecCTCModelBPE"]


class EncDecCTCModelBPE(EncDecCTCModel, ASRBPEMixin):
    """CTC over subword units; blank id = number of SentencePiece pieces."""

    _BPE = True

    def setup_before_data(self) -> None:
        """The tokenizer (data loaders need it) and the decoder vocabulary it implies, as artifacts."""
        super().setup_before_data()
        if "tokenizer" not in self._cfg:
            raise ValueError("`cfg` must have `tokenizer` config to create a tokenizer !")
        tokenizer_cfg = self._setup_tokenizer(self._cfg.tokenizer)
        vocabulary = self.tokenizer.tokenizer.get_vocab()
        with open_dict(self._cfg):
            self._cfg.tokenizer = tokenizer_cfg
            self._cfg.decoder.vocabulary = list(vocabulary.keys())
            if self._cfg.decoder.get("num_classes", -1) < 1:
                logging.info(f"\nReplacing placeholder number of classes ({self._cfg.decoder.get('num_classes')}) "
                             f"with actual number of classes - {len(vocabulary)}")
                self._cfg.decoder.num_classes = len(vocabulary)
        self._register_tokenizer_artifacts()

    def change_vocabulary(
        self,
        new_tokenizer_dir: Union[str, DictConfig],
        new_tokenizer_type: str,
        decoding_cfg: Optional[DictConfig] = None,
    ):
        """Switch to another tokenizer directory: new tokenizer artifacts, decoder head, loss, decoding, WER."""
        vocabulary = self._load_new_tokenizer(new_tokenizer_dir, new_tokenizer_type)
        self._replace_output_head(vocabulary, decoding_cfg)
        self.cfg = self._cfg
        logging.info(f"Changed tokenizer to {vocabulary} vocabulary.")
