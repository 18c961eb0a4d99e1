"""English text normalisation and word splitting shared by the TTS tokenizers and the G2P (NeMo's rules)."""

import re
import unicodedata
from typing import List, Tuple

_TO_ASCII = {"\u2019": "'", "\u201c": '"', "\u201d": '"'}

# a word: letters, optionally joined by inner hyphens/apostrophes, ending in a letter; `|...|`: symbols kept as
# they are (e.g. phonemes); anything else: punctuation, digits and spaces
_WORDS_EN = re.compile(r"([A-Za-z]+(?:[A-Za-z'-]*[A-Za-z])*)|(\|[^|]*\|)|([^A-Za-z|]+)")


def english_text_preprocessing(text: str, lower: bool = True) -> str:
    """Drop accents (NFD without combining marks), map curly double quotes and ’ to ASCII, optionally lower-case."""
    text = "".join(c for c in unicodedata.normalize("NFD", str(text)) if unicodedata.category(c) != "Mn")
    text = "".join(_TO_ASCII.get(c, c) for c in text)
    return text.lower() if lower else text


def english_word_tokenize(text: str) -> List[Tuple[List[str], bool]]:
    """`[(pieces, keep_as_is)]`: a lower-cased word, the space-separated symbols of a `|...|` span (kept as
    they are), or a run of other characters."""
    out = []
    for word, kept, other in _WORDS_EN.findall(text):
        if word:
            out.append(([word.lower()], False))
        elif kept:
            out.append((kept[1:-1].split(" "), True))
        else:
            out.append(([other], False))
    return out
