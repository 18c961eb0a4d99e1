"""Character parsers: text -> label ids for character CTC models (`make_parser(labels, name='en')`)."""

from __future__ import annotations

import string
from typing import Dict, List, Optional, Type

from nemo.utils import logging


class CharParser:
    """Maps text to ids of `labels`; words are joined by the space label, unknown characters get `unk_id`.

    Tokens equal to `blank_id` are removed at the end, so with the defaults (-1/-1) characters
    outside the labels simply disappear.
    """

    def __init__(
        self,
        labels: List[str],
        *,
        unk_id: int = -1,
        blank_id: int = -1,
        do_normalize: bool = True,
        do_lowercase: bool = True,
        do_tokenize: bool = True,
    ):
        self._labels = list(labels)
        self._unk_id, self._blank_id = unk_id, blank_id
        self._do_normalize, self._do_lowercase, self._do_tokenize = do_normalize, do_lowercase, do_tokenize
        self._labels_map = {label: i for i, label in enumerate(self._labels)}
        self._special_labels = {label for label in self._labels if len(label) > 1}

    @property
    def labels(self) -> List[str]:
        return list(self._labels)

    def __call__(self, text: str) -> Optional[List[int]]:
        if self._do_normalize:
            text = self._normalize(text)
            if text is None:
                return None
        if not self._do_tokenize:
            return text
        return self._tokenize(text)

    def _normalize(self, text: str) -> Optional[str]:
        text = text.strip()
        return text.lower() if self._do_lowercase else text

    def _tokenize(self, text: str) -> List[int]:
        space_id = self._labels_map.get(" ", self._unk_id)
        tokens: List[int] = []
        for i, word in enumerate(text.split(" ")):
            if i > 0:
                tokens.append(space_id)
            if word in self._special_labels:
                tokens.append(self._labels_map[word])
                continue
            tokens.extend(self._labels_map.get(char, self._unk_id) for char in word)
        return [t for t in tokens if t != self._blank_id]

    def decode(self, ids: List[int]) -> str:
        """Join the labels of `ids` (ids outside the label range are skipped)."""
        return "".join(self._labels[i] for i in ids if 0 <= i < len(self._labels))


class ENCharParser(CharParser):
    """English parser: ASCII folding, lower-casing, numbers/abbreviations spelled out, punctuation
    not in the labels turned into spaces. Returns None (utterance dropped) if cleaning fails."""

    def __init__(self, abbreviation_version: Optional[str] = None, make_table: bool = True, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.abbreviation_version = abbreviation_version
        self._keep = "".join(c for c in string.punctuation if c in self._labels_map)

    def _normalize(self, text: str) -> Optional[str]:
        from nemo.collections.common.parts.preprocessing.cleaners import clean_text

        if "£" in text or "€" in text:
            logging.warning("Currency other than $ is not expanded: %r", text)
        try:
            return clean_text(text, punctuation_to_keep=self._keep)
        except Exception:  # noqa: BLE001 - NeMo drops utterances whose text cannot be cleaned
            return None


class RUCharParser(CharParser):
    """Russian parser: lower-case, 'ё' -> 'е', '+' -> 'плюс', punctuation outside the labels -> space."""

    def _normalize(self, text: str) -> Optional[str]:
        import re

        text = text.strip().lower().replace("ё", "е").replace("+", " плюс ")
        drop = "".join(c for c in string.punctuation if c not in self._labels_map)
        text = text.translate(str.maketrans(drop, " " * len(drop)))
        return re.sub(r"\s+", " ", text).strip()


NAME_TO_PARSER: Dict[str, Type[CharParser]] = {"base": CharParser, "en": ENCharParser, "ru": RUCharParser}


def make_parser(labels: Optional[List[str]] = None, name: str = "base", **kwargs) -> CharParser:
    """Build the parser called `name` ('base', 'en', 'ru'); labels None means `string.printable`."""
    if name not in NAME_TO_PARSER:
        raise ValueError(f"Unknown parser '{name}'; known: {sorted(NAME_TO_PARSER)}")
    if labels is None:
        labels = list(string.printable)
    return NAME_TO_PARSER[name](labels=list(labels), **kwargs)
