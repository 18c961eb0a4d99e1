"""Tokenizer factories (`get_tokenizer` for BERT-style models, `get_nmt_tokenizer` for translation)
and NeMo's `TokenizerConfig` dataclass. SentencePiece comes from `nemo.collections.common`."""

from dataclasses import dataclass
from typing import Any, Dict, Optional

from omegaconf import MISSING

SUPPORTED_NMT_LIBRARIES = ("sentencepiece", "huggingface")


@dataclass
class TokenizerConfig:
    library: str = MISSING
    tokenizer_model: Optional[str] = None
    vocab_size: Optional[int] = None
    vocab_file: Optional[str] = None
    special_tokens: Optional[Dict[str, str]] = None
    bpe_dropout: Optional[float] = 0.0
    coverage: Optional[float] = 0.999
    training_sample_size: Optional[int] = None
    r2l: Optional[bool] = False
    sentencepiece_legacy: Optional[bool] = False


def get_tokenizer(
    tokenizer_name: str,
    tokenizer_model: Optional[str] = None,
    vocab_file: Optional[str] = None,
    special_tokens: Optional[Dict[str, str]] = None,
    tokenizer_config_file: Optional[str] = None,
    use_fast: bool = True,
):
    """`sentencepiece` -> SentencePieceTokenizer(tokenizer_model, legacy=True); anything else is a
    Hugging Face name or folder (or a `vocab_file`) -> `AutoTokenizer`."""
    if tokenizer_name == "sentencepiece":
        from nemo.collections.common.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

        return SentencePieceTokenizer(model_path=tokenizer_model, special_tokens=special_tokens, legacy=True)
    if tokenizer_name in ("char", "word", "regex", "tiktoken") or str(tokenizer_name).startswith("megatron"):
        raise ValueError(f"tokenizer {tokenizer_name!r} is not supported here; use a Hugging Face name/folder or 'sentencepiece'")
    from nemo.collections.nlp.modules.common.hf_tokenizer import AutoTokenizer

    return AutoTokenizer(
        pretrained_model_name=tokenizer_name,
        vocab_file=vocab_file,
        tokenizer_config_file=tokenizer_config_file,
        special_tokens=special_tokens,
        use_fast=use_fast,
    )


def get_nmt_tokenizer(
    library: str = "sentencepiece",
    model_name: Optional[str] = None,
    tokenizer_model: Optional[str] = None,
    vocab_file: Optional[str] = None,
    special_tokens: Optional[Dict[str, Any]] = None,
    bpe_dropout: Optional[float] = 0.0,
    r2l: bool = False,
    legacy: bool = False,
    use_fast: bool = False,
):
    """A translation tokenizer. Non-legacy SentencePiece models must define pad, bos and eos."""
    if library == "sentencepiece":
        from nemo.collections.common.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

        if not tokenizer_model:
            raise ValueError("sentencepiece tokenizer needs tokenizer_model (a trained .model file)")
        tok = SentencePieceTokenizer(model_path=tokenizer_model, special_tokens=special_tokens, legacy=legacy)
        if not legacy:
            missing = [n for n in ("pad_id", "bos_id", "eos_id", "unk_id") if getattr(tok, n) < 0]
            if missing:
                raise ValueError(
                    f"{tokenizer_model}: SentencePiece model has no {', '.join(m[:-3] for m in missing)} piece; "
                    "train it with pad/bos/eos ids or set sentencepiece_legacy: true"
                )
        return tok
    if library == "huggingface":
        return get_tokenizer(model_name, vocab_file=vocab_file, special_tokens=special_tokens, use_fast=use_fast)
    raise NotImplementedError(f"tokenizer library {library!r} is not supported; use one of {SUPPORTED_NMT_LIBRARIES}")
