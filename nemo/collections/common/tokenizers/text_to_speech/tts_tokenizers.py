"""TTS tokenizers with NeMo's token tables, so NeMo-trained embeddings line up id for id.

Table: the symbols, then `<pad>`, then `<blank>` only when `add_blank_at` is set, then `<oov>` (with
`add_blank_at="last"` the last two swap). Encoding keeps known symbols, collapses runs of spaces, drops
trailing ones, skips unknown symbols with one warning each, and optionally pads with a space on both sides.
"""

import contextlib
import string
from typing import Callable, Iterable, List, Optional, Sequence

from nemo.collections.common.tokenizers.text_to_speech.tokenizer_utils import english_text_preprocessing
from nemo.utils import logging

DEFAULT_PUNCTUATION = (",", ".", "!", "?", "-", ":", ";", "/", '"', "(", ")", "[", "]", "{", "}")


class BaseTokenizer:
    """Ids over `self.tokens`; `pad`, `blank` (None without `add_blank_at`) and `oov` are ids in that table."""

    PAD, BLANK, OOV = "<pad>", "<blank>", "<oov>"
    PUNCT_LIST = DEFAULT_PUNCTUATION
    punct = pad_with_space = False
    space = 0

    def __init__(self, tokens: Iterable[str], *, pad: str = PAD, blank: str = BLANK, oov: str = OOV, sep: str = "",
                 add_blank_at=None):
        tokens = list(tokens)
        self.pad = len(tokens)
        tokens.append(pad)
        self.blank = None
        if add_blank_at is not None:
            self.blank = len(tokens)
            tokens.append(blank)
        self.oov = len(tokens)
        tokens.append(oov)
        if add_blank_at == "last":
            tokens[-2], tokens[-1] = tokens[-1], tokens[-2]
            self.blank, self.oov = self.oov, self.blank
        self.tokens = tokens
        self.sep = sep
        self._util_ids = {self.pad, self.blank, self.oov}
        self._token2id = {t: i for i, t in enumerate(tokens)}  # a repeated symbol maps to its last id, as in NeMo
        self._warned = set()

    def __len__(self) -> int:
        return len(self.tokens)

    def __call__(self, text: str) -> List[int]:
        return self.encode(text)

    def encode(self, text: str) -> List[int]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        return self.sep.join(self.tokens[i] for i in ids if i not in self._util_ids)

    def _extend_apostrophe_punct(self, tokens: List[str], apostrophe: bool, punct: bool,
                                 non_default_punct_list: Optional[Sequence[str]]) -> None:
        """Append the apostrophe and the punctuation list (NeMo's order), which also becomes `PUNCT_LIST`."""
        if apostrophe:
            tokens.append("'")
        if punct:
            if non_default_punct_list is not None:
                self.PUNCT_LIST = list(non_default_punct_list)
            tokens.extend(self.PUNCT_LIST)

    def _ids(self, symbols: Iterable[str], context: str) -> List[int]:
        """Known word symbols and punctuation, one space between words, none at the end."""
        space, kept = self.tokens[self.space], []
        for s in symbols:
            if s == space or s.isspace():
                if kept and kept[-1] != space:
                    kept.append(space)
            elif (s.isalnum() or s == "'") and s in self._token2id:
                kept.append(s)
            elif self.punct and s in self.PUNCT_LIST:
                kept.append(s)
            elif s not in self._warned:
                self._warned.add(s)
                logging.warning(f"{type(self).__name__}: [{context}] contains {s!r}, which is not in the "
                                f"vocabulary; skipped")
        while kept and kept[-1] == space:
            kept.pop()
        if self.pad_with_space:
            kept = [space] + kept + [space]
        return [self._token2id[s] for s in kept]


class BaseCharsTokenizer(BaseTokenizer):
    """Characters: space, `chars`, optional apostrophe and punctuation."""

    PUNCT_LIST = DEFAULT_PUNCTUATION

    def __init__(self, chars: str, punct: bool = True, apostrophe: bool = True, add_blank_at=None,
                 pad_with_space: bool = False, non_default_punct_list: Optional[Sequence[str]] = None,
                 text_preprocessing_func: Callable[[str], str] = lambda text: text):
        tokens = [" "] + list(chars)
        self._extend_apostrophe_punct(tokens, apostrophe, punct, non_default_punct_list)
        super().__init__(tokens, add_blank_at=add_blank_at)
        self.punct = punct
        self.pad_with_space = pad_with_space
        self.text_preprocessing_func = text_preprocessing_func

    def encode(self, text: str) -> List[int]:
        text = self.text_preprocessing_func(text)
        return self._ids(text, text)


class EnglishCharsTokenizer(BaseCharsTokenizer):
    """Lower-case English letters (accents dropped); needs no dictionary."""

    def __init__(self, punct: bool = True, apostrophe: bool = True, add_blank_at=None, pad_with_space: bool = False,
                 non_default_punct_list: Optional[Sequence[str]] = None,
                 text_preprocessing_func: Callable[[str], str] = english_text_preprocessing):
        super().__init__(string.ascii_lowercase, punct=punct, apostrophe=apostrophe, add_blank_at=add_blank_at,
                         pad_with_space=pad_with_space, non_default_punct_list=non_default_punct_list,
                         text_preprocessing_func=text_preprocessing_func)


def _keep_case(text: str) -> str:
    return english_text_preprocessing(text, lower=False)


class EnglishPhonemesTokenizer(BaseTokenizer):
    """ARPABET phonemes from the given G2P (vowels with stress digits when `stresses`), plus lower-case letters for
    words the G2P spells out when `chars` (forced on when the G2P has a `phoneme_probability`).

    `g2p` is required, as in NeMo: any callable text -> symbols, e.g. the TTS collection's
    `nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p` (a config's nested `g2p: {_target_: ...}`).
    """

    PUNCT_LIST = DEFAULT_PUNCTUATION
    VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
    CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
                  "TH", "V", "W", "Y", "Z", "ZH")

    def __init__(self, g2p, punct: bool = True, non_default_punct_list: Optional[Sequence[str]] = None,
                 stresses: bool = False, chars: bool = False, *, space: str = " ", silence: Optional[str] = None,
                 apostrophe: bool = True, oov: str = BaseTokenizer.OOV, sep: str = "|", add_blank_at=None,
                 pad_with_space: bool = False, text_preprocessing_func: Callable[[str], str] = _keep_case):
        self.phoneme_probability = getattr(g2p, "phoneme_probability", None)
        tokens = [space]
        if silence is not None:
            self.silence = len(tokens)
            tokens.append(silence)
        tokens.extend(self.CONSONANTS)
        if stresses:
            tokens.extend(f"{v}{s}" for v in self.VOWELS for s in "012")
        else:
            tokens.extend(self.VOWELS)
        if chars or self.phoneme_probability is not None:
            if not chars:
                logging.warning("The G2P has a phoneme_probability, so letters are in the vocabulary although "
                                "chars=False")
            tokens.extend(string.ascii_lowercase)
        self._extend_apostrophe_punct(tokens, apostrophe, punct, non_default_punct_list)
        super().__init__(tokens, oov=oov, sep=sep, add_blank_at=add_blank_at)
        self.chars = chars or self.phoneme_probability is not None
        self.punct = punct
        self.stresses = stresses
        self.pad_with_space = pad_with_space
        self.text_preprocessing_func = text_preprocessing_func
        self.g2p = g2p

    def encode(self, text: str) -> List[int]:
        text = self.text_preprocessing_func(text)
        return self.encode_from_g2p(self.g2p(text), text)

    def encode_from_g2p(self, g2p_text: List[str], raw_text: Optional[str] = None) -> List[int]:
        """Ids of a G2P output (phonemes and letters); stress digits dropped unless `stresses`."""
        if not self.stresses:
            g2p_text = [p[:2] if len(p) == 3 and p.isalnum() else p for p in g2p_text]
        return self._ids(g2p_text, raw_text if raw_text is not None else "".join(g2p_text))

    @contextlib.contextmanager
    def set_phone_prob(self, prob: Optional[float]):
        """Within the block the G2P phonemizes words with probability `prob` (1.0 while parsing for inference)."""
        if hasattr(self.g2p, "phoneme_probability"):
            self.g2p.phoneme_probability = prob
        try:
            yield
        finally:
            if hasattr(self.g2p, "phoneme_probability"):
                self.g2p.phoneme_probability = self.phoneme_probability
