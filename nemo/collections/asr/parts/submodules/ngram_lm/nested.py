"""An n-gram LM nested in an ASR model: one `.nemo` carries both, and beam search uses the LM by default.

The LM is a child model (`register_nemo_submodule`) whose config sits at the ASR config's `ngram_lm` key and whose
tensors are saved with the ASR weights (`ngram_lm.*`). Whenever the model's `decoding` is (re)built, the nested LM
is handed to it; a decoding config that names its own `ngram_lm_model` file still takes precedence.
"""

from typing import Optional, Union

from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.collections.asr.parts.submodules.ngram_lm.ngram_lm_batched import NGramGPULanguageModel

NGRAM_LM_FIELD = "ngram_lm"


class ASRNGramLMMixin:
    """For CTC and transducer models: `set_ngram_lm(path_or_lm)` nests an LM; restores rebuild it from
    `cfg.ngram_lm`."""

    _NGRAM_LM_STRATEGIES = {"ctc": ("beam", "beam_batch"), "transducer": ("malsd_batch", "maes_batch")}

    def _setup_nested_ngram_lm(self) -> None:
        """Rebuild the nested LM (empty tensors of the saved sizes; the weights load with the model's)."""
        lm_cfg = self._cfg.get(NGRAM_LM_FIELD)
        if lm_cfg is not None:
            self.register_nemo_submodule(NGRAM_LM_FIELD, NGRAM_LM_FIELD, NGramGPULanguageModel(lm_cfg))

    def set_ngram_lm(self, lm: Union[str, NGramGPULanguageModel], decoding_cfg: Optional[DictConfig] = None) -> None:
        """Nest `lm` (ARPA / LM `.nemo` path or model) and decode with it: `decoding_cfg` if given, else the
        current config, switched from greedy to `beam_batch` (CTC) / `malsd_batch` (transducers) when needed."""
        from nemo.collections.asr.parts.submodules.ctc_beam_decoding import load_ngram_lm

        lm = load_ngram_lm(lm, vocab_size=self.decoding.blank_id)
        self.register_nemo_submodule(NGRAM_LM_FIELD, NGRAM_LM_FIELD, lm)
        with open_dict(self._cfg):
            self._cfg[NGRAM_LM_FIELD] = OmegaConf.create(OmegaConf.to_container(lm.cfg, resolve=True))
        if decoding_cfg is None:
            decoding_cfg = OmegaConf.create(OmegaConf.to_container(self._cfg.decoding, resolve=True))
            kind = "transducer" if hasattr(self, "joint") else "ctc"
            strategies = self._NGRAM_LM_STRATEGIES[kind]
            if decoding_cfg.get("strategy") not in strategies:
                decoding_cfg.strategy = strategies[-1] if kind == "ctc" else strategies[0]
        self.change_decoding_strategy(decoding_cfg, verbose=False)

    @property
    def decoding(self):
        return self.__dict__.get("_ngram_lm_decoding")

    @decoding.setter
    def decoding(self, value) -> None:
        lm = self._modules.get(NGRAM_LM_FIELD) if "_modules" in self.__dict__ else None
        if lm is not None and value is not None and hasattr(value, "set_ngram_lm"):
            value.set_ngram_lm(lm)
        self.__dict__["_ngram_lm_decoding"] = value
