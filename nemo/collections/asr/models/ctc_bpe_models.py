"""EncDecCTCModelBPE: the CTC model over SentencePiece subwords, tokenizer kept as artifacts (spec §3)."""

import copy
from typing import Optional, Union

from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.collections.asr.models.ctc_models import EncDecCTCModel
from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin
from nemo.collections.asr.parts.submodules.ctc_decoding import CTCBPEDecoding
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

    def _build_decoding(self, decoding_cfg):
        return CTCBPEDecoding(decoding_cfg, tokenizer=self.tokenizer)

    def change_vocabulary(
        self,
        new_tokenizer_dir: Union[str, DictConfig],
        new_tokenizer_type: str,
        decoding_cfg: Optional[DictConfig] = None,
    ):
        """Switch to another tokenizer directory: new tokenizer artifacts, decoder head, loss, decoding, WER."""
        if isinstance(new_tokenizer_dir, DictConfig):
            tokenizer_cfg = copy.deepcopy(new_tokenizer_dir)
        else:
            import os

            if not os.path.isdir(str(new_tokenizer_dir)):
                raise NotADirectoryError(f"New tokenizer dir must be non-empty path to a directory. But I got: "
                                         f"{new_tokenizer_dir}")
            tokenizer_cfg = OmegaConf.create({"dir": str(new_tokenizer_dir), "type": new_tokenizer_type})
        self._setup_tokenizer(tokenizer_cfg)
        for key in ("model_path", "vocab_path", "spe_tokenizer_vocab"):
            self.artifacts.pop(f"tokenizer.{key}", None)
        self._register_tokenizer_artifacts()
        vocabulary = list(self.tokenizer.tokenizer.get_vocab().keys())
        self._replace_output_head(vocabulary, decoding_cfg)
        self.cfg = self._cfg
        logging.info(f"Changed tokenizer to {vocabulary} vocabulary.")
