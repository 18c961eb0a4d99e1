"""Tokenizers: `SentencePieceTokenizer`, `CharTokenizer`, and `create_spt_model` (sentencepiece loads lazily)."""

from nemo.utils.lazy import lazy_exports

_EXPORTS = {
    "SentencePieceTokenizer": ".sentencepiece_tokenizer",
    "create_spt_model": ".sentencepiece_tokenizer",
    "CharTokenizer": ".char_tokenizer",
    "process_asr_text_tokenizer": ".process_asr_text_tokenizer",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
