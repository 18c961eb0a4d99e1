"""N-gram language models for ASR decoding: ARPA files, Kneser-Ney estimation and the batched NGPU-LM."""

from nemo.collections.asr.parts.submodules.ngram_lm.arpa import ArpaFormatError, NGramTable, read_arpa, write_arpa
from nemo.collections.asr.parts.submodules.ngram_lm.constants import DEFAULT_TOKEN_OFFSET
from nemo.collections.asr.parts.submodules.ngram_lm.kneser_ney import estimate_kneser_ney
from nemo.collections.asr.parts.submodules.ngram_lm.ngram_lm_batched import NGramGPULanguageModel, NGramLMConfig

__all__ = [
    "ArpaFormatError",
    "DEFAULT_TOKEN_OFFSET",
    "NGramGPULanguageModel",
    "NGramLMConfig",
    "NGramTable",
    "estimate_kneser_ney",
    "read_arpa",
    "write_arpa",
]
