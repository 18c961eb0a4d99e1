"""Character parsers: base tokenisation rules and the English normaliser."""

import pytest

from nemo.collections.asr.parts.preprocessing.parsers import make_parser as asr_make_parser
from nemo.collections.common.parts.preprocessing.cleaners import clean_text, number_to_words, ordinal_to_words
from nemo.collections.common.parts.preprocessing.parsers import CharParser, ENCharParser, make_parser

LABELS = [" "] + list("abcdefghijklmnopqrstuvwxyz") + ["'"]


def test_base_parser_rules():
    p = make_parser(LABELS, name="base")
    assert isinstance(p, CharParser) and asr_make_parser is make_parser
    assert p("Hi there") == [8, 9, 0, 20, 8, 5, 18, 5]  # lower-cased, space id between words
    assert p("a  b") == [1, 0, 0, 2]  # double space -> two space tokens
    assert p("a?b") == [1, 2]  # unknown dropped with unk_id=blank_id=-1
    assert make_parser(LABELS, name="base", unk_id=99)("a?") == [1, 99]
    assert make_parser(LABELS, name="base", do_normalize=False)("A") == []
    assert make_parser(["<sos>", " ", "a"], name="base")("a <sos>") == [2, 1, 0]


def test_en_parser_normalises():
    p = make_parser(LABELS, name="en")
    assert isinstance(p, ENCharParser)
    text = "Dr. Smith paid $3.50 at 10:05pm on the 21st -- it's 1,234 cafés & 50%!"
    assert p.decode(p(text)) == (
        "doctor smith paid three dollars and fifty cents at ten oh five p m on the twenty first "
        "it's one thousand two hundred thirty four cafes and fifty percent"
    )


def test_unknown_parser_and_default_labels():
    with pytest.raises(ValueError, match="Unknown parser 'xx'"):
        make_parser(LABELS, name="xx")
    assert make_parser(None, name="base")("A!") == [10, 62]


@pytest.mark.parametrize("n, words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (105, "one hundred five"),
                                      (2024, "two thousand twenty four"), (1000000, "one million")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_ordinals_and_clean_text():
    assert [ordinal_to_words(n) for n in (1, 2, 3, 12, 20, 101)] == ["first", "second", "third", "twelfth", "twentieth", "one hundred first"]
    assert clean_text("Mr. O'Neil, 3.5 kg", punctuation_to_keep="'") == "mister o'neil three point five kg"
