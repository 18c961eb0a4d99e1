"""TTS text tokenizers: English characters, and English ARPABET phonemes through a G2P.

Both map text to a list of ids over `self.tokens`; `pad`, `blank` and `oov` are ids at the end of
that list. NeMo keeps these in `nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers`;
configs naming that path are remapped here (see `resolve_tokenizer_target`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Callable, List, Optional, Sequence

from nemo.utils import logging

DEFAULT_PUNCTUATION = (",", ".", "!", "?", "-", ":", ";", "/", '"', "(", ")", "[", "]", "{", "}")
ARPABET_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
ARPABET_CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
                      "T", "TH", "V", "W", "Y", "Z", "ZH")

_NEMO_TOKENIZER_MODULES = (
    "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers.",
    "nemo.collections.tts.torch.tts_tokenizers.",
)
_NEMO_G2P_MODULES = ("nemo_text_processing.g2p.modules.", "nemo.collections.tts.torch.g2ps.")


def resolve_tokenizer_target(cfg) -> None:
    """Point NeMo's tokenizer/G2P `_target_` paths at this collection's classes (in place)."""
    target = cfg.get("_target_", "")
    for old in _NEMO_TOKENIZER_MODULES:
        if target.startswith(old):
            cfg["_target_"] = "nemo.collections.tts.parts.tokenizers." + target[len(old):]
    g2p = cfg.get("g2p")
    if g2p is not None and g2p.get("_target_"):
        for old in _NEMO_G2P_MODULES:
            if g2p["_target_"].startswith(old):
                g2p["_target_"] = "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p"


def english_text_preprocessing(text: str, lower: bool = True) -> str:
    """Unicode-normalise, drop accents, straighten quotes/apostrophes, collapse spaces."""
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"\s+", " ", text).strip()
    return text.lower() if lower else text


class BaseTokenizer:
    """`tokens` = symbols then `<pad>`, `<blank>`, `<oov>`; `encode(text) -> ids`, `decode(ids) -> text`."""

    PAD, BLANK, OOV = "<pad>", "<blank>", "<oov>"

    def __init__(self, symbols: Sequence[str], pad_with_space: bool = False, add_blank_at=None, sep: str = "|"):
        tokens = list(dict.fromkeys(symbols))
        self.pad = len(tokens)
        self.blank = len(tokens) + 1
        self.oov = len(tokens) + 2
        self.tokens = tokens + [self.PAD, self.BLANK, self.OOV]
        self._id = {t: i for i, t in enumerate(self.tokens)}
        self.space = self._id.get(" ")
        self.pad_with_space = pad_with_space
        self.add_blank_at = add_blank_at
        self.sep = sep
        self._warned = set()

    def __len__(self) -> int:
        return len(self.tokens)

    def symbols(self, text: str) -> List[str]:
        raise NotImplementedError

    def encode(self, text: str) -> List[int]:
        ids = []
        for s in self.symbols(text):
            if s in self._id:
                ids.append(self._id[s])
            elif s not in self._warned:
                self._warned.add(s)
                logging.warning(f"{type(self).__name__}: symbol {s!r} is not in the vocabulary; skipped")
        if self.pad_with_space and self.space is not None:
            ids = [self.space] + ids + [self.space]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        specials = {self.pad, self.blank, self.oov}
        return self.sep.join(self.tokens[i] for i in ids if i not in specials)

    __call__ = encode


def _punct_list(punct: bool, non_default_punct_list) -> List[str]:
    if not punct:
        return []
    return list(non_default_punct_list) if non_default_punct_list is not None else list(DEFAULT_PUNCTUATION)


class EnglishCharsTokenizer(BaseTokenizer):
    """Lower-case letters, space, optional apostrophe and punctuation. Needs no dictionary."""

    def __init__(
        self,
        punct: bool = True,
        apostrophe: bool = True,
        add_blank_at=None,
        pad_with_space: bool = False,
        non_default_punct_list: Optional[Sequence[str]] = None,
        text_preprocessing_func: Optional[Callable[[str], str]] = None,
    ):
        symbols = [" "] + list(string.ascii_lowercase)
        if apostrophe:
            symbols.append("'")
        symbols += _punct_list(punct, non_default_punct_list)
        super().__init__(symbols, pad_with_space=pad_with_space, add_blank_at=add_blank_at, sep="")
        self.text_preprocessing_func = text_preprocessing_func or english_text_preprocessing

    def symbols(self, text: str) -> List[str]:
        return list(self.text_preprocessing_func(text))


class EnglishPhonemesTokenizer(BaseTokenizer):
    """ARPABET phonemes (with stress digits if `stresses`) from a G2P, plus letters for words it spells out.

    With `chars=False` words the G2P cannot convert are encoded as `<oov>`; with `chars=True` as letters.
    """

    def __init__(
        self,
        g2p=None,
        punct: bool = True,
        non_default_punct_list: Optional[Sequence[str]] = None,
        stresses: bool = False,
        chars: bool = False,
        space: str = " ",
        silence: Optional[str] = None,
        apostrophe: bool = True,
        oov: str = BaseTokenizer.OOV,
        sep: str = "|",
        add_blank_at=None,
        pad_with_space: bool = False,
        text_preprocessing_func: Optional[Callable[[str], str]] = None,
    ):
        if g2p is None:
            from nemo.collections.tts.g2p.models.en_us_arpabet import EnglishG2p

            g2p = EnglishG2p()
        self.g2p = g2p
        self.stresses = stresses
        self.chars = chars
        phonemes = list(ARPABET_CONSONANTS)
        for v in ARPABET_VOWELS:
            phonemes += [v + d for d in "012"] if stresses else [v]
        symbols = [space] + phonemes
        if silence is not None:
            symbols.append(silence)
        if chars:
            symbols += list(string.ascii_lowercase)
        if apostrophe:
            symbols.append("'")
        symbols += _punct_list(punct, non_default_punct_list)
        super().__init__(symbols, pad_with_space=pad_with_space, add_blank_at=add_blank_at, sep=sep)
        self.text_preprocessing_func = text_preprocessing_func or english_text_preprocessing
        self.phoneme_probability = None

    def symbols(self, text: str) -> List[str]:
        out = []
        for s in self.g2p(self.text_preprocessing_func(text), phoneme_probability=self.phoneme_probability):
            if not self.stresses and s[-1:].isdigit() and s[:-1] in ARPABET_VOWELS:
                s = s[:-1]
            if len(s) == 1 and s.isalpha() and not self.chars:
                s = self.OOV
            out.append(s)
        return out

    def encode(self, text: str) -> List[int]:
        ids = []
        for s in self.symbols(text):
            ids.append(self.oov if s == self.OOV else self._id.get(s, self.oov))
        if self.pad_with_space and self.space is not None:
            ids = [self.space] + ids + [self.space]
        return ids

    def set_phone_prob(self, prob: Optional[float]) -> None:
        """Force the G2P's phoneme probability (1.0 while parsing for inference); None restores it."""
        self.phoneme_probability = prob
