"""TTS tokenizer/G2P cases whose results must equal NVIDIA NeMo's (token tables, ids, G2P symbols).

`python tests/collections/tts/tokenizer_cases.py OUT.json` runs them under whichever `nemo` is importable; run
under NeMo 3.0.0's interpreter (with nltk installed) it wrote `data/nemo_tts_tokenizers.json`, which
`test_tokenizers_nemo_golden.py` compares with this package's results. Only NeMo's public import paths are used.
"""

import itertools
import json
import os
import sys
import tempfile

DICT_LINES = [
    "HELLO  HH AH0 L OW1", "WORLD  W ER1 L D", "READ  R EH1 D", "READ(1)  R IY1 D", "DOG  D AO1 G",
    "CAT  K AE1 T", "THE  DH AH0", "THE(1)  DH AH1", "WELL  W EH1 L", "KNOWN  N OW1 N", "WIND  W IH1 N D",
    "JOHN  JH AA1 N", "JOHN'S  JH AA1 N Z", "NEWS  N UW1 Z", "NEW  N UW1", "A  AH0", "A(1)  EY1", "IT  IH1 T",
    "IT'S  IH1 T S", "DON'T  D OW1 N T", "OK  OW2 K EY1", "ROCK  R AA1 K", "N'ROLL  N R OW1 L",
]
HETERONYMS = ["wind", "read"]

CHAR_TEXTS = [
    "Hello, World! It's 3 o'clock; café—ok?", "  leading and trailing spaces  ", "double  space",
    "\u201cQuoted\u201d \u2018single\u2019 (paren) [br] {cu} a/b: c-d \"x\"", "ÀÉÎÕÜ ñ ß", "", "!!!", "don't stop",
]
PHONEME_TEXTS = [
    "Hello, world!", "The dog's news: John's cat reads", "Dogs read the cats", "well-known rock-n'roll",
    "|HH AH0| hello |W ER1 L D|", "It's 3 o'clock; OK?", "A wind", "zork  qux", "HELLO WORLD", "dogs'",
]


def _g2p(tmp, **kwargs):
    from nemo.collections.tts.g2p.models.en_us_arpabet import EnglishG2p

    dict_path = os.path.join(tmp, "dict.txt")
    het_path = os.path.join(tmp, "heteronyms.txt")
    with open(dict_path, "w", encoding="latin-1") as f:
        f.write("\n".join(DICT_LINES) + "\n")
    with open(het_path, "w", encoding="utf-8") as f:
        f.write("\n".join(HETERONYMS) + "\n")
    return EnglishG2p(phoneme_dict=dict_path, heteronyms=het_path, **kwargs)


def _table(tok):
    return {"tokens": list(tok.tokens), "pad": tok.pad, "blank": tok.blank, "oov": tok.oov}


def run_cases() -> dict:
    from nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers import (
        EnglishCharsTokenizer,
        EnglishPhonemesTokenizer,
    )

    out = {"chars": {}, "phonemes": {}, "g2p": {}}
    for punct, apos, blank, pws in itertools.product([True, False], [True, False], [None, "last", "first"],
                                                     [False, True]):
        tok = EnglishCharsTokenizer(punct=punct, apostrophe=apos, add_blank_at=blank, pad_with_space=pws)
        out["chars"][f"punct={punct} apostrophe={apos} blank={blank} pad_with_space={pws}"] = dict(
            _table(tok), encoded=[tok.encode(t) for t in CHAR_TEXTS])
    tok = EnglishCharsTokenizer(non_default_punct_list=["!", "?", ".", "'"])
    out["chars"]["non_default_punct_list"] = dict(_table(tok), encoded=[tok.encode(t) for t in CHAR_TEXTS])

    with tempfile.TemporaryDirectory() as tmp:
        for ignore in (True, False):
            g2p = _g2p(tmp, ignore_ambiguous_words=ignore)
            out["g2p"][f"ignore_ambiguous_words={ignore}"] = [g2p(t) for t in PHONEME_TEXTS]
        g2p = _g2p(tmp, phoneme_probability=0.0)
        out["g2p"]["phoneme_probability=0.0"] = [g2p(t) for t in PHONEME_TEXTS]
        g2p = _g2p(tmp)
        for stresses, chars, punct, apos, blank, pws in itertools.product(
                [False, True], [False, True], [True, False], [True, False], [None, "last"], [False, True]):
            tok = EnglishPhonemesTokenizer(g2p, punct=punct, stresses=stresses, chars=chars, apostrophe=apos,
                                           add_blank_at=blank, pad_with_space=pws)
            key = f"stresses={stresses} chars={chars} punct={punct} apostrophe={apos} blank={blank} pws={pws}"
            out["phonemes"][key] = dict(_table(tok), encoded=[tok.encode(t) for t in PHONEME_TEXTS])
        tok = EnglishPhonemesTokenizer(g2p, stresses=True, chars=True, silence="<sil>", add_blank_at="first")
        out["phonemes"]["silence"] = dict(_table(tok), encoded=[tok.encode(t) for t in PHONEME_TEXTS])
        tok = EnglishPhonemesTokenizer(_g2p(tmp, phoneme_probability=0.5), chars=False)
        out["phonemes"]["g2p phoneme_probability forces chars"] = _table(tok)
    return out


if __name__ == "__main__":
    import nemo

    result = {"nemo_file": nemo.__file__, "cases": run_cases()}
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=0, ensure_ascii=False)
