"""EncDecHybridRNNTCTCBPEModel: the hybrid transducer + CTC model over SentencePiece subwords."""

from typing import Optional, Union

from omegaconf import DictConfig, open_dict

from nemo.collections.asr.models.hybrid_rnnt_ctc_models import EncDecHybridRNNTCTCModel
from nemo.collections.asr.models.rnnt_bpe_models import change_transducer_tokenizer, setup_transducer_tokenizer
from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin
from nemo.utils import logging

__all__ = ["EncDecHybridRNNTCTCBPEModel"]


class EncDecHybridRNNTCTCBPEModel(EncDecHybridRNNTCTCModel, ASRBPEMixin):
    """Hybrid transducer + CTC over subword units (both heads share the tokenizer's vocabulary)."""

    _BPE = True

    def setup_before_data(self) -> None:
        """Tokenizer, `labels` and the CTC head's vocabulary from the tokenizer, as artifacts."""
        super().setup_before_data()
        setup_transducer_tokenizer(self)
        if "aux_ctc" not in self._cfg:
            raise ValueError("The config need to have a section for the CTC decoder named as aux_ctc for Hybrid models.")
        with open_dict(self._cfg):
            self._cfg.aux_ctc.decoder.vocabulary = list(self._cfg.labels)
            if self._cfg.aux_ctc.decoder.get("num_classes", -1) < 1:
                self._cfg.aux_ctc.decoder.num_classes = len(self._cfg.labels)

    def change_vocabulary(
        self,
        new_tokenizer_dir: Union[str, DictConfig],
        new_tokenizer_type: str,
        decoding_cfg: Optional[DictConfig] = None,
        ctc_decoding_cfg: Optional[DictConfig] = None,
    ):
        """Switch tokenizers: new prediction net, joint and CTC head for the new pieces; encoder kept."""
        change_transducer_tokenizer(self, new_tokenizer_dir, new_tokenizer_type, decoding_cfg)
        self._replace_ctc_head(list(self._cfg.labels), ctc_decoding_cfg)
        logging.info(f"Changed the tokenizer of the CTC decoder to {self.ctc_decoder.vocabulary} vocabulary.")
