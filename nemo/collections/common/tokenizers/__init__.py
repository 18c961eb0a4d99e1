"""Tokenizers: `SentencePieceTokenizer`, `CharTokenizer`, and `create_spt_model` (sentencepiece loads lazily)."""

import importlib

_EXPORTS = {
    "SentencePieceTokenizer": "sentencepiece_tokenizer",
    "create_spt_model": "sentencepiece_tokenizer",
    "CharTokenizer": "char_tokenizer",
    "process_asr_text_tokenizer": "process_asr_text_tokenizer",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"nemo.collections.common.tokenizers.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nemo.collections.common.tokenizers' has no attribute '{name}'")
