"""Built-in English vocabulary and seeded sentence / digit-string generators for the synthetic corpus.

All text is lower-case a-z, space and apostrophe (QuartzNet's 28 character labels).
"""

from __future__ import annotations

import numpy as np

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "she", "he", "we", "they", "the old man",
            "the little girl", "our neighbour", "the doctor", "my brother", "your sister"]
VERBS = ["sees", "likes", "finds", "wants", "has", "takes", "needs", "brings", "opens", "moves", "paints", "buys"]
PLURAL_VERBS = {"sees": "see", "likes": "like", "finds": "find", "wants": "want", "has": "have", "takes": "take",
                "needs": "need", "brings": "bring", "opens": "open", "moves": "move", "paints": "paint", "buys": "buy"}
ADJECTIVES = ["red", "green", "blue", "big", "small", "old", "new", "black", "white", "yellow", "heavy", "warm"]
NOUNS = ["ball", "box", "car", "house", "book", "hat", "cup", "door", "chair", "window", "letter", "bottle"]
PLACES = ["in the park", "at home", "on the table", "near the door", "by the river", "in the morning",
          "after lunch", "at school", "under the bed", "every day"]
IMPERATIVES = ["open", "close", "bring", "move", "find", "take", "paint", "clean"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def digit_string(rng: np.random.Generator, min_len: int = 3, max_len: int = 7) -> str:
    """Spoken digits, e.g. 'four two seven one'."""
    n = int(rng.integers(min_len, max_len + 1))
    return " ".join(_pick(rng, DIGITS) for _ in range(n))


def sentence(rng: np.random.Generator) -> str:
    """A short sentence from one of a few templates over the built-in vocabulary."""
    subject = _pick(rng, SUBJECTS)
    verb = _pick(rng, VERBS)
    if subject in ("we", "they"):
        verb = PLURAL_VERBS[verb]
    thing = f"the {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)}"
    kind = int(rng.integers(6))
    if kind == 0:
        return f"{subject} {verb} {thing}"
    if kind == 1:
        return f"{subject} {verb} {thing} {_pick(rng, PLACES)}"
    if kind == 2:
        return f"please {_pick(rng, IMPERATIVES)} {thing}"
    if kind == 3:
        return f"don't {_pick(rng, IMPERATIVES)} {thing} {_pick(rng, PLACES)}"
    if kind == 4:
        return f"it's {_pick(rng, ADJECTIVES)} {_pick(rng, PLACES)}"
    return f"{subject} {verb} {_pick(rng, NUMBER_WORDS)} {_pick(rng, NOUNS)}s"


def utterance_text(rng: np.random.Generator, digit_fraction: float = 0.4) -> str:
    """A digit string with probability `digit_fraction`, otherwise a sentence."""
    return digit_string(rng) if rng.random() < digit_fraction else sentence(rng)


def vocabulary() -> set:
    """Every word the generators can produce."""
    words = set(DIGITS) | set(VERBS) | set(PLURAL_VERBS.values()) | set(ADJECTIVES) | set(IMPERATIVES) | set(NUMBER_WORDS)
    words |= {n + "s" for n in NOUNS} | set(NOUNS) | {"please", "don't", "it's", "the"}
    for phrase in SUBJECTS + PLACES:
        words |= set(phrase.split())
    return words
