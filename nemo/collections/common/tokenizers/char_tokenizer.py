"""Character tokenizer: one id per character of a fixed vocabulary, with optional special tokens."""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence


class CharTokenizer:
    """Maps each character to its index in `vocab`; unknown characters become `unk_token` (or are dropped).

    `vocab` is a list of single characters or a path to a file with one character per line.
    Special tokens (`pad_token`, `unk_token`, `bos_token`, `eos_token`) are appended after the characters.
    """

    def __init__(
        self,
        vocab,
        unk_token: Optional[str] = "<unk>",
        pad_token: Optional[str] = None,
        bos_token: Optional[str] = None,
        eos_token: Optional[str] = None,
        lowercase: bool = False,
    ):
        chars = self._load(vocab)
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"CharTokenizer vocab entries must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer vocab has duplicate characters")
        self.lowercase = lowercase
        self.pad_token, self.unk_token, self.bos_token, self.eos_token = pad_token, unk_token, bos_token, eos_token
        specials = [t for t in (pad_token, unk_token, bos_token, eos_token) if t is not None]
        self._id_to_token: List[str] = list(chars) + specials
        self._token_to_id = {t: i for i, t in enumerate(self._id_to_token)}
        self._specials = set(specials)

    @staticmethod
    def _load(vocab) -> List[str]:
        if isinstance(vocab, str):
            with open(vocab, encoding="utf-8") as f:
                return [line.rstrip("\n") for line in f if line.rstrip("\n")]
        return list(vocab)

    @property
    def vocab(self) -> List[str]:
        return list(self._id_to_token)

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def _id(self, token: Optional[str]) -> int:
        return -1 if token is None else self._token_to_id[token]

    pad_id = property(lambda self: self._id(self.pad_token))
    unk_id = property(lambda self: self._id(self.unk_token))
    bos_id = property(lambda self: self._id(self.bos_token))
    eos_id = property(lambda self: self._id(self.eos_token))

    def text_to_tokens(self, text: str) -> List[str]:
        text = text.lower() if self.lowercase else text
        out = []
        for c in text:
            if c in self._token_to_id and c not in self._specials:
                out.append(c)
            elif self.unk_token is not None:
                out.append(self.unk_token)
        return out

    def text_to_ids(self, text: str) -> List[int]:
        return self.tokens_to_ids(self.text_to_tokens(text))

    def tokens_to_ids(self, tokens: Iterable[str]) -> List[int]:
        return [self._token_to_id[t] for t in tokens]

    def ids_to_tokens(self, ids: Sequence[int]) -> List[str]:
        return [self._id_to_token[int(i)] for i in ids]

    def tokens_to_text(self, tokens: Iterable[str]) -> str:
        return "".join(t for t in tokens if t not in self._specials)

    def ids_to_text(self, ids: Sequence[int]) -> str:
        return self.tokens_to_text(self.ids_to_tokens(ids))

    def __len__(self) -> int:
        return self.vocab_size
