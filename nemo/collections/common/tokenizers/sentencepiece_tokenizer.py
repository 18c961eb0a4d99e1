"""SentencePiece tokenizer wrapper with NeMo's interface, and `create_spt_model` to train one."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Union

from nemo.utils import logging


class SentencePieceTokenizer:
    """Wraps `sentencepiece.SentencePieceProcessor` (as `.tokenizer`) with NeMo's text/token/id methods.

    `legacy=True` allows extra `special_tokens` (a list, or a dict `{attr_name: token}`); unknown ones get
    ids from `vocab_size` upward and are matched as whole strings before SentencePiece sees the text.
    """

    def __init__(self, model_path: str, special_tokens: Union[None, List[str], Dict[str, str]] = None, legacy: bool = False, ignore_extra_whitespaces: bool = True, chat_template=None, trim_spm_separator_after_special_token: bool = True, spm_separator: str = "▁"):
        import sentencepiece as spm

        if not model_path or not os.path.isfile(model_path):
            raise ValueError(f"SentencePiece model not found: {model_path!r}")
        self.model_path = os.path.abspath(model_path)
        self.tokenizer = spm.SentencePieceProcessor()
        if not self.tokenizer.Load(self.model_path):
            raise ValueError(f"{model_path} is not a valid SentencePiece model")
        self.original_vocab_size = self.vocab_size = self.tokenizer.get_piece_size()
        self.legacy = legacy
        self.ignore_extra_whitespaces = ignore_extra_whitespaces
        self.chat_template = chat_template
        self.trim_spm_separator_after_special_token = trim_spm_separator_after_special_token
        self.spm_separator = spm_separator
        self.special_token_to_id: Dict[str, int] = {}
        self.id_to_special_token: Dict[int, str] = {}
        if special_tokens:
            if not legacy:
                raise ValueError("special_tokens are only supported with legacy=True; add them when training the model instead")
            self.add_special_tokens(special_tokens)
        self.removed_extra_spaces = self.tokenizer.encode_as_pieces("x  y") == self.tokenizer.encode_as_pieces("x y")
        self.space_sensitive = self.text_to_tokens("x y") != self.text_to_tokens("x") + self.text_to_tokens("y")

    def __getstate__(self):
        state = dict(self.__dict__)
        state["tokenizer"] = self.tokenizer.serialized_model_proto()
        return state

    def __setstate__(self, state):
        import sentencepiece as spm

        proto = state.pop("tokenizer")
        self.__dict__.update(state)
        self.tokenizer = spm.SentencePieceProcessor()
        self.tokenizer.LoadFromSerializedProto(proto)

    # -- special tokens (legacy mode) --------------------------------------------------------------
    def add_special_tokens(self, special_tokens: Union[List[str], Dict[str, str]]) -> None:
        """Give each token an id (its piece id if the model knows it, else the next free id)."""
        items = special_tokens.items() if isinstance(special_tokens, dict) else [(None, t) for t in special_tokens]
        for attr, token in items:
            if attr is not None:
                setattr(self, attr, token)
            if token in self.special_token_to_id:
                continue
            known = self.tokenizer.piece_to_id(token)
            if self.tokenizer.id_to_piece(known) == token and known != self.tokenizer.unk_id():
                self.special_token_to_id[token] = known
            else:
                self.special_token_to_id[token] = self.vocab_size
                self.id_to_special_token[self.vocab_size] = token
                self.vocab_size += 1

    def _split_special(self, text: str) -> List[tuple]:
        """[(is_special, chunk)] with the longest special tokens matched first."""
        if not self.legacy or not self.special_token_to_id:
            return [(False, text)]
        specials = sorted(self.special_token_to_id, key=len, reverse=True)
        out, start, i = [], 0, 0
        while i < len(text):
            match = next((s for s in specials if text.startswith(s, i)), None)
            if match is None:
                i += 1
                continue
            if i > start:
                out.append((False, text[start:i]))
            out.append((True, match))
            i = start = i + len(match)
        if start < len(text):
            out.append((False, text[start:]))
        return out

    # -- encoding / decoding -----------------------------------------------------------------------
    def text_to_tokens(self, text: str) -> List[str]:
        tokens: List[str] = []
        for special, chunk in self._split_special(text):
            tokens.extend([chunk] if special else self.tokenizer.encode_as_pieces(chunk))
        return tokens

    def text_to_ids(self, text: str, sample_alpha: Optional[float] = None) -> List[int]:
        ids: List[int] = []
        for special, chunk in self._split_special(text):
            if special:
                ids.append(self.special_token_to_id[chunk])
            elif sample_alpha is not None:
                ids.extend(self.tokenizer.encode_as_ids(chunk, enable_sampling=True, alpha=sample_alpha, nbest_size=-1))
            else:
                ids.extend(self.tokenizer.encode_as_ids(chunk))
        return ids

    def tokens_to_text(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.decode_pieces(list(tokens))

    def ids_to_text(self, ids) -> str:
        ids = [int(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
        if not self.id_to_special_token:
            return self.tokenizer.decode_ids(ids)
        parts, run = [], []
        for i in ids:
            if i in self.id_to_special_token:
                if run:
                    parts.append(self.tokenizer.decode_ids(run))
                    run = []
                parts.append(self.id_to_special_token[i])
            else:
                run.append(i)
        if run:
            parts.append(self.tokenizer.decode_ids(run))
        return " ".join(parts).strip()

    def token_to_id(self, token: str) -> int:
        if token in self.special_token_to_id:
            return self.special_token_to_id[token]
        return self.tokenizer.piece_to_id(token)

    def ids_to_tokens(self, ids) -> List[str]:
        return [self.id_to_special_token.get(int(i)) or self.tokenizer.id_to_piece(int(i)) for i in ids]

    def tokens_to_ids(self, tokens: Union[str, Sequence[str]], tokens_to_skip: Sequence[str] = ()) -> Union[int, List[int]]:
        if isinstance(tokens, str):
            return self.token_to_id(tokens)
        return [self.token_to_id(t) for t in tokens if t not in tokens_to_skip]

    # -- ids and vocabulary ------------------------------------------------------------------------
    def _special_id(self, attr: str, spm_id: int) -> int:
        if self.legacy and getattr(self, attr, None) is not None:
            return self.token_to_id(getattr(self, attr))
        return spm_id

    @property
    def pad_id(self) -> int:
        return self._special_id("pad_token", self.tokenizer.pad_id())

    @property
    def bos_id(self) -> int:
        return self._special_id("bos_token", self.tokenizer.bos_id())

    @property
    def eos_id(self) -> int:
        return self._special_id("eos_token", self.tokenizer.eos_id())

    @property
    def unk_id(self) -> int:
        return self.tokenizer.unk_id()

    def _legacy_only(self, attr: str) -> int:
        if not self.legacy or getattr(self, attr, None) is None:
            raise NameError(f"Use legacy=True with a '{attr}' special token to have this id")
        return self.token_to_id(getattr(self, attr))

    @property
    def sep_id(self) -> int:
        return self._legacy_only("sep_token")

    @property
    def cls_id(self) -> int:
        return self._legacy_only("cls_token")

    @property
    def mask_id(self) -> int:
        return self._legacy_only("mask_token")

    @property
    def vocab(self) -> List[str]:
        pieces = [self.tokenizer.id_to_piece(i) for i in range(self.original_vocab_size)]
        return pieces + [self.id_to_special_token[i] for i in sorted(self.id_to_special_token)]

    @property
    def additional_special_tokens_ids(self) -> List[int]:
        return sorted(self.id_to_special_token)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer(model_path={self.model_path!r}, vocab_size={self.vocab_size})"


def create_spt_model(
    data_file: str,
    vocab_size: int,
    sample_size: int,
    do_lower_case: bool,
    tokenizer_type: str = "unigram",
    output_dir: Optional[str] = None,
    character_coverage: float = 1.0,
    train_extremely_large_corpus: bool = False,
    max_sentencepiece_length: int = -1,
    bos: bool = False,
    eos: bool = False,
    pad: bool = False,
    control_symbols: Optional[List[str]] = None,
    user_defined_symbols: Optional[List[str]] = None,
    byte_fallback: bool = False,
    split_digits: bool = False,
    split_by_whitespace: bool = True,
    split_by_unicode_script: bool = True,
    remove_extra_whitespaces: bool = False,
):
    """Train a SentencePiece model on `data_file` into `output_dir`; returns `(model_path, vocab_txt_path)`.

    Writes `tokenizer.model`, `tokenizer.vocab` and NeMo's `vocab.txt`; an existing model is reused.
    """
    import sentencepiece as spm

    if not data_file or not os.path.exists(data_file):
        raise ValueError(f"data_file must be an existing text file, got {data_file!r}")
    output_dir = output_dir or os.path.join(os.path.dirname(os.path.abspath(data_file)), "spt")
    model_path = os.path.join(output_dir, "tokenizer.model")
    vocab_txt = os.path.join(output_dir, "vocab.txt")
    if os.path.exists(model_path):
        logging.info("SentencePiece model %s exists; reusing it", model_path)
        return model_path, vocab_txt
    os.makedirs(output_dir, exist_ok=True)
    args = {
        "input": data_file,
        "model_prefix": os.path.join(output_dir, "tokenizer"),
        "vocab_size": vocab_size,
        "shuffle_input_sentence": "true",
        "hard_vocab_limit": "false",
        "model_type": tokenizer_type,
        "character_coverage": character_coverage,
        "bos_id": 1 if bos else -1,
        "eos_id": (1 + int(bos)) if eos else -1,
        "byte_fallback": str(byte_fallback).lower(),
        "split_digits": str(split_digits).lower(),
        "split_by_whitespace": str(split_by_whitespace).lower(),
        "split_by_unicode_script": str(split_by_unicode_script).lower(),
        "minloglevel": 2,
    }
    if pad:
        args["pad_id"] = 1 + int(bos) + int(eos)
    if control_symbols:
        args["control_symbols"] = ",".join(control_symbols)
    if user_defined_symbols:
        args["user_defined_symbols"] = ",".join(user_defined_symbols)
    if do_lower_case:
        args["normalization_rule_name"] = "nmt_nfkc_cf"
    if sample_size > 0:
        args["input_sentence_size"] = sample_size
    if train_extremely_large_corpus:
        args["train_extremely_large_corpus"] = "true"
    if max_sentencepiece_length >= 0:
        args["max_sentencepiece_length"] = max_sentencepiece_length
    if not remove_extra_whitespaces:
        args["remove_extra_whitespaces"] = "false"
    spm.SentencePieceTrainer.train(**args)
    _write_vocab_txt(os.path.join(output_dir, "tokenizer.vocab"), vocab_txt, (control_symbols or []) + (user_defined_symbols or []))
    return model_path, vocab_txt


def _write_vocab_txt(spm_vocab: str, vocab_txt: str, extra_symbols: Sequence[str]) -> None:
    """NeMo's vocab.txt: word-initial pieces without '▁', others prefixed with '##', specials skipped."""
    skip = {"<s>", "</s>", "<pad>", "<unk>", *extra_symbols}
    with open(spm_vocab, encoding="utf-8") as src, open(vocab_txt, "w", encoding="utf-8") as dst:
        for line in src:
            piece = line.split("\t")[0]
            if piece in skip:
                continue
            token = piece[1:] if piece.startswith("▁") else "##" + piece
            dst.write((token or piece[0]) + "\n")
