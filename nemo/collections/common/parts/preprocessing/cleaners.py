"""English text normalisation for character models: ASCII folding, numbers and abbreviations to words."""

from __future__ import annotations

import re
import unicodedata

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}

ABBREVIATIONS = [
    ("mrs", "misess"), ("ms", "miss"), ("mr", "mister"), ("messrs", "messeurs"), ("dr", "doctor"), ("drs", "doctors"),
    ("st", "saint"), ("co", "company"), ("jr", "junior"), ("sr", "senior"), ("rev", "reverend"), ("hon", "honorable"),
    ("sgt", "sergeant"), ("capt", "captain"), ("maj", "major"), ("col", "colonel"), ("lt", "lieutenant"),
    ("gen", "general"), ("prof", "professor"), ("lb", "pounds"), ("rep", "representative"), ("ave", "avenue"),
    ("etc", "et cetera"), ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "september"), ("sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december"),
]
_ABBREV_RES = [(re.compile(rf"\b{a}\.", re.IGNORECASE), w) for a, w in ABBREVIATIONS]
_ASCII_EXTRA = {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L",
                "đ": "d", "Đ": "D", "þ": "th", "ð": "d", "‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."}


def number_to_words(n: int) -> str:
    """Cardinal English words for a non-negative integer, e.g. 1204 -> 'one thousand two hundred four'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for value, name in _SCALES:
        if n >= value:
            rest = n % value
            return number_to_words(n // value) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def ordinal_to_words(n: int) -> str:
    """Ordinal words, e.g. 21 -> 'twenty first'."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def to_ascii(text: str) -> str:
    """Fold accents and common typographic characters to ASCII; drop what has no ASCII form."""
    text = "".join(_ASCII_EXTRA.get(c, c) for c in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def _dollars(m: re.Match) -> str:
    dollars, cents = int(m.group(1).replace(",", "")), int((m.group(2) or "0").ljust(2, "0")[:2])
    parts = []
    if dollars or not cents:
        parts.append(f"{number_to_words(dollars)} dollar{'' if dollars == 1 else 's'}")
    if cents:
        parts.append(f"{number_to_words(cents)} cent{'' if cents == 1 else 's'}")
    return " and ".join(parts)


def _time(m: re.Match) -> str:
    hour, minute, suffix = int(m.group(1)), int(m.group(2)), (m.group(3) or "").lower()
    words = number_to_words(hour)
    if minute:
        words += (" oh " if minute < 10 else " ") + number_to_words(minute)
    elif not suffix:
        words += " o'clock"
    if suffix:
        words += " " + " ".join(suffix.replace(".", ""))
    return words


def expand_numbers(text: str) -> str:
    """Spell out times, currency, ordinals, decimals and plain digit runs in English words."""
    text = re.sub(r"\b(\d{1,2}):(\d{2})\s*(a\.?m\.?|p\.?m\.?)?", _time, text, flags=re.IGNORECASE)
    text = re.sub(r"\$(\d[\d,]*)(?:\.(\d{1,2}))?", _dollars, text)
    text = re.sub(r"(\d{1,3}(?:,\d{3})+)", lambda m: m.group(1).replace(",", ""), text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal_to_words(int(m.group(1))), text, flags=re.IGNORECASE)
    text = re.sub(r"(\d+)\.(\d{1,2})\b", lambda m: f"{number_to_words(int(m.group(1)))} point {' '.join(_ONES[int(d)] for d in m.group(2))}", text)
    return re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group(0))) + " ", text)


def clean_text(text: str, punctuation_to_keep: str = "") -> str:
    """NeMo's English cleaning order: ASCII, lower-case, spaces, numbers, abbreviations, symbols, punctuation."""
    import string

    text = to_ascii(text).lower()
    text = re.sub(r"\s+", " ", text)
    text = expand_numbers(text)
    for pattern, word in _ABBREV_RES:
        text = pattern.sub(word, text)
    text = text.replace("+", " plus ").replace("&", " and ").replace("%", " percent ")
    drop = "".join(c for c in string.punctuation if c not in punctuation_to_keep)
    text = text.translate(str.maketrans(drop, " " * len(drop)))
    return re.sub(r"\s+", " ", text).strip()
