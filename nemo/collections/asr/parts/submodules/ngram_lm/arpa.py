"""ARPA n-gram files: read them into id tables (token- or word-level) and write them back.

Token-level files spell token id `i` as one character `chr(i + token_offset)` (NeMo's NGPU-LM convention);
word-level files use whole words mapped to ids through a vocabulary. Weights are stored as log10 in the file and
returned as natural logs.
"""

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, TextIO, Tuple

from nemo.collections.asr.parts.submodules.ngram_lm.constants import (
    DEFAULT_TOKEN_OFFSET,
    SPECIAL_WORDS,
)
from nemo.core.classes.exceptions import NeMoBaseException

LN10 = math.log(10.0)
_ID_TO_SPECIAL = {v: k for k, v in SPECIAL_WORDS.items()}


class ArpaFormatError(NeMoBaseException, ValueError):
    """An ARPA file is malformed; the message names the file and line."""


@dataclass
class NGramTable:
    """All n-grams of an LM: `ngrams[order]` maps a tuple of ids to (log-prob, back-off), natural logs."""

    max_order: int
    ngrams: Dict[int, Dict[Tuple[int, ...], Tuple[float, float]]] = field(default_factory=dict)
    # line number of each n-gram in the source file (for error messages); empty for tables built in memory
    lines: Dict[Tuple[int, ...], int] = field(default_factory=dict)


class SymbolMap:
    """Maps ARPA words to ids: one character per token (offset encoding) or a word vocabulary."""

    def __init__(self, token_offset: int = DEFAULT_TOKEN_OFFSET, vocabulary: Optional[Sequence[str]] = None):
        self.token_offset = token_offset
        self.word_to_id = {w: i for i, w in enumerate(vocabulary)} if vocabulary is not None else None
        self.id_to_word = list(vocabulary) if vocabulary is not None else None

    def to_id(self, word: str) -> Optional[int]:
        """The id of `word`, or None when it is not a word of this vocabulary."""
        if word in SPECIAL_WORDS:
            return SPECIAL_WORDS[word]
        if self.word_to_id is not None:
            return self.word_to_id.get(word)
        if len(word) != 1 or ord(word) < self.token_offset:
            return None
        return ord(word) - self.token_offset

    def to_word(self, token: int) -> str:
        if token < 0:
            return _ID_TO_SPECIAL[token]
        if self.id_to_word is not None:
            return self.id_to_word[token]
        return chr(token + self.token_offset)


def _split_fields(line: str) -> List[str]:
    """Fields of an n-gram line: tab-separated as KenLM writes them, else single spaces.

    Only ' ' and '\\t' separate: token characters such as U+0085 or U+00A0 (ids 33 and 60 at offset 100)
    are whitespace to `str.split()` but are words here.
    """
    if "\t" in line:
        return line.split("\t")
    return line.split(" ")


def read_arpa(
    path: str,
    token_offset: int = DEFAULT_TOKEN_OFFSET,
    vocabulary: Optional[Sequence[str]] = None,
    vocab_size: Optional[int] = None,
) -> NGramTable:
    """Parse an ARPA file. With `vocabulary` words are looked up in it, otherwise each word must be one
    character (token id = ord - token_offset). Raises ArpaFormatError naming the line on bad input."""
    symbols = SymbolMap(token_offset=token_offset, vocabulary=vocabulary)
    with open(path, "r", encoding="utf-8", newline="\n") as f:
        return _parse(f, path, symbols, vocab_size)


def _parse(f: TextIO, path: str, symbols: SymbolMap, vocab_size: Optional[int]) -> NGramTable:
    def fail(lineno: int, msg: str):
        raise ArpaFormatError(f"{path}:{lineno}: {msg}")

    counts: Dict[int, int] = {}
    section = "start"
    order = 0
    table: Optional[NGramTable] = None
    lineno = 0
    for lineno, raw in enumerate(f, start=1):
        line = raw.rstrip("\r\n")
        stripped = line.strip(" \t")
        if section == "start":
            if not stripped:
                continue
            if stripped != "\\data\\":
                fail(lineno, f"expected the '\\data\\' header, got {stripped[:40]!r}")
            section = "header"
            continue
        if section == "header":
            if stripped.startswith("ngram "):
                key, _, value = stripped[len("ngram "):].partition("=")
                try:
                    n, c = int(key.strip()), int(value.strip())
                except ValueError:
                    fail(lineno, f"bad count line {stripped!r}; expected 'ngram N=COUNT'")
                if n != len(counts) + 1:
                    fail(lineno, f"n-gram orders must be listed 1, 2, ... in turn; got order {n}")
                counts[n] = c
                continue
            if not stripped:
                if counts:
                    table = NGramTable(max_order=max(counts), ngrams={n: {} for n in counts})
                    section = "between"
                continue
            fail(lineno, f"expected 'ngram N=COUNT' or a blank line, got {stripped[:40]!r}")
        if not stripped:
            continue
        if stripped == "\\end\\":
            section = "end"
            break
        if stripped.startswith("\\") and stripped.endswith("-grams:"):
            try:
                n = int(stripped[1:-len("-grams:")])
            except ValueError:
                fail(lineno, f"bad section header {stripped!r}")
            if n not in counts:
                fail(lineno, f"section {stripped!r} is not announced in the \\data\\ header")
            if order and len(table.ngrams[order]) != counts[order]:
                fail(lineno, f"the header announces {counts[order]} {order}-grams, the file has {len(table.ngrams[order])}")
            if n != order + 1:
                fail(lineno, f"expected the \\{order + 1}-grams: section, got {stripped!r}")
            order = n
            section = "ngrams"
            continue
        if section != "ngrams":
            fail(lineno, f"n-gram line outside an n-gram section: {stripped[:40]!r}")
        fields = _split_fields(line)
        if len(fields) not in (order + 1, order + 2, 2, 3):
            fail(lineno, f"expected 'log10prob<TAB>{order} words[<TAB>backoff]', got {line[:60]!r}")
        try:
            weight = float(fields[0])
        except ValueError:
            fail(lineno, f"log-probability {fields[0]!r} is not a number")
        if "\t" in line:
            words = fields[1].split(" ")
            rest = fields[2:]
        else:
            words = fields[1:1 + order]
            rest = fields[1 + order:]
        if len(words) != order:
            fail(lineno, f"a {order}-gram needs {order} words, got {len(words)}: {line[:60]!r}")
        backoff = 0.0
        if rest:
            if len(rest) > 1:
                fail(lineno, f"too many fields: {line[:60]!r}")
            try:
                backoff = float(rest[0])
            except ValueError:
                fail(lineno, f"back-off weight {rest[0]!r} is not a number")
        ids = []
        for w in words:
            i = symbols.to_id(w)
            if i is None:
                kind = "in the vocabulary" if symbols.word_to_id is not None else (
                    f"a single character at or above chr({symbols.token_offset}) (token-level LM)")
                fail(lineno, f"word {w!r} is not {kind}")
            if vocab_size is not None and i >= vocab_size:
                fail(lineno, f"word {w!r} is token id {i}, outside the vocabulary of {vocab_size} tokens")
            ids.append(i)
        key = tuple(ids)
        if key in table.ngrams[order]:
            fail(lineno, f"duplicate {order}-gram {' '.join(words)!r} (first on line {table.lines[key]})")
        table.ngrams[order][key] = (weight * LN10, backoff * LN10)
        table.lines[key] = lineno
    if section != "end":
        fail(lineno, "file ends before '\\end\\'")
    if order != table.max_order:
        fail(lineno, f"the header announces {table.max_order}-grams but the file stops at order {order}")
    if len(table.ngrams[order]) != counts[order]:
        fail(lineno, f"the header announces {counts[order]} {order}-grams, the file has {len(table.ngrams[order])}")
    return table


def write_arpa(
    path: str,
    table: NGramTable,
    token_offset: int = DEFAULT_TOKEN_OFFSET,
    vocabulary: Optional[Sequence[str]] = None,
) -> None:
    """Write `table` (natural logs) as an ARPA file with tab-separated fields, as KenLM does."""
    symbols = SymbolMap(token_offset=token_offset, vocabulary=vocabulary)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for chunk in arpa_lines(table, symbols):
            f.write(chunk)


def _fmt(x: float) -> str:
    return "-99" if x == float("-inf") else f"{x / LN10:.7g}"


def arpa_lines(table: NGramTable, symbols: SymbolMap) -> Iterable[str]:
    """The ARPA text of `table`, line by line."""
    yield "\\data\\\n"
    for n in range(1, table.max_order + 1):
        yield f"ngram {n}={len(table.ngrams[n])}\n"
    for n in range(1, table.max_order + 1):
        yield f"\n\\{n}-grams:\n"
        for key in sorted(table.ngrams[n]):
            prob, backoff = table.ngrams[n][key]
            words = " ".join(symbols.to_word(t) for t in key)
            if n < table.max_order and key[-1] != SPECIAL_WORDS["</s>"]:
                yield f"{_fmt(prob)}\t{words}\t{_fmt(backoff)}\n"
            else:
                yield f"{_fmt(prob)}\t{words}\n"
    yield "\n\\end\\\n"
