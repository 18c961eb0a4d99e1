"""TTS tokenizers, re-exported from NeMo's path `nemo.collections.common.tokenizers.text_to_speech`.

`resolve_tokenizer_target` points the module paths of older NeMo configs at the current ones.
"""

from nemo.collections.common.tokenizers.text_to_speech.tokenizer_utils import english_text_preprocessing
from nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers import (
    DEFAULT_PUNCTUATION,
    BaseCharsTokenizer,
    BaseTokenizer,
    EnglishCharsTokenizer,
    EnglishPhonemesTokenizer,
)

__all__ = ["DEFAULT_PUNCTUATION", "BaseCharsTokenizer", "BaseTokenizer", "EnglishCharsTokenizer",
           "EnglishPhonemesTokenizer", "english_text_preprocessing", "resolve_tokenizer_target"]

_TOKENIZERS = "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers."
_OLD_TOKENIZER_MODULES = ("nemo.collections.tts.torch.tts_tokenizers.",)
_OLD_G2P_MODULES = ("nemo_text_processing.g2p.modules.", "nemo.collections.tts.torch.g2ps.")


def resolve_tokenizer_target(cfg) -> None:
    """Point old NeMo tokenizer/G2P `_target_` paths at today's (in place)."""
    target = cfg.get("_target_", "")
    for old in _OLD_TOKENIZER_MODULES:
        if target.startswith(old):
            cfg["_target_"] = _TOKENIZERS + target[len(old):]
    g2p = cfg.get("g2p")
    if g2p is not None and g2p.get("_target_"):
        for old in _OLD_G2P_MODULES:
            if g2p["_target_"].startswith(old):
                g2p["_target_"] = "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p"
