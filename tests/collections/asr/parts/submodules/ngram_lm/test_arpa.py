"""ARPA files: token- and word-level reading, writer round trip, and errors that name the line."""

import pytest

from nemo.collections.asr.parts.submodules.ngram_lm import ArpaFormatError, NGramGPULanguageModel, read_arpa, write_arpa
from nemo.collections.asr.parts.submodules.ngram_lm.arpa import LN10
from nemo.collections.asr.parts.submodules.ngram_lm.constants import BOS_ID, EOS_ID, UNK_ID

GOOD = "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1\t<unk>\t0\n-99\t<s>\t-0.5\n-0.3\t</s>\n-0.4\td\t-0.1\n\n" \
       "\\2-grams:\n-0.2\t<s> d\n-0.6\td </s>\n\n\\end\\\n"


def _write(tmp_path, text, name="lm.arpa"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_token_level_file_reads_ids_from_characters(tmp_path):
    table = read_arpa(_write(tmp_path, GOOD))
    assert table.max_order == 2
    assert set(table.ngrams[1]) == {(UNK_ID,), (BOS_ID,), (EOS_ID,), (0,)}
    assert table.ngrams[1][(0,)] == pytest.approx((-0.4 * LN10, -0.1 * LN10))
    assert table.ngrams[2][(BOS_ID, 0)] == pytest.approx((-0.2 * LN10, 0.0))


def test_word_level_file_reads_ids_through_a_vocabulary(tmp_path):
    text = GOOD.replace("\td\t", "\thello\t").replace("<s> d", "<s> hello").replace("d </s>", "hello </s>")
    table = read_arpa(_write(tmp_path, text), vocabulary=["world", "hello"])
    assert (1,) in table.ngrams[1] and (BOS_ID, 1) in table.ngrams[2]
    lm = NGramGPULanguageModel.from_arpa(_write(tmp_path, text), vocab_size=2, vocabulary=["world", "hello"])
    assert lm.num_states == 3  # start, <s>, "hello"


def test_writer_round_trip_keeps_whitespace_like_token_characters(tmp_path):
    table = read_arpa(_write(tmp_path, GOOD))
    # ids 33 and 60 are U+0085 and U+00A0 at offset 100: str.split() would break them apart
    table.ngrams[1][(33,)] = (-1.5, -0.25)
    table.ngrams[1][(60,)] = (-1.75, 0.0)
    table.ngrams[2][(33, 60)] = (-0.5, 0.0)
    out = str(tmp_path / "out.arpa")
    write_arpa(out, table)
    back = read_arpa(out)
    for n in table.ngrams:
        assert set(back.ngrams[n]) == set(table.ngrams[n])
        for gram, (p, b) in table.ngrams[n].items():
            assert back.ngrams[n][gram][0] == pytest.approx(p, abs=1e-6)
            assert back.ngrams[n][gram][1] == pytest.approx(b, abs=1e-6)


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace("\\data\\", "data"), 1, "\\data\\"),
    (GOOD.replace("ngram 2=2", "ngram 2=x"), 3, "ngram N=COUNT"),
    (GOOD.replace("-0.4\td", "abc\td"), 9, "not a number"),
    (GOOD.replace("-0.4\td\t-0.1", "-0.4\tdd\t-0.1"), 9, "single character"),
    (GOOD.replace("-0.2\t<s> d", "-0.2\t<s>"), 12, "needs 2 words"),
    (GOOD.replace("-0.6\td </s>", "-0.2\t<s> d"), 13, "duplicate"),
    (GOOD.replace("ngram 2=2", "ngram 2=3"), 15, "announces 3 2-grams"),
    (GOOD.replace("\\end\\\n", ""), 14, "ends before"),
])
def test_bad_files_name_the_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(ArpaFormatError) as err:
        read_arpa(path)
    assert f"{path}:{line}:" in str(err.value) and words in str(err.value)


def test_structural_errors_name_the_line(tmp_path):
    text = GOOD.replace("-0.2\t<s> d", "-0.2\t<s> e")  # 'e' is no unigram: its suffix has no state
    path = _write(tmp_path, text)
    with pytest.raises(ArpaFormatError, match=r"line 12: its suffix"):
        NGramGPULanguageModel.from_arpa(path, vocab_size=2)
    with pytest.raises(ArpaFormatError, match=r"line 9: token id 0 .* vocabulary of 0"):
        NGramGPULanguageModel.from_arpa(_write(tmp_path, GOOD, "b.arpa"), vocab_size=0)
