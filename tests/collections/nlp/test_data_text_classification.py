"""NeMo's TSV format: header skipped, labels checked against num_classes (file and line named),
class weights, [CLS]/[SEP] features, truncation and padding."""

import pytest
import torch

from nemo.collections.nlp.data.text_classification.text_classification_dataset import (
    TextClassificationDataset,
    calc_class_weights,
    read_labelled_lines,
)
from nemo.collections.nlp.modules.common.hf_tokenizer import AutoTokenizer

from .conftest import write_vocab


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return AutoTokenizer(vocab_file=write_vocab(tmp_path_factory.mktemp("tok") / "vocab.txt"))


def test_header_skipped_and_whitespace_split(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("sentence\tlabel\nthe cat sat\t1\n\n a   dog \t0\n")
    assert list(read_labelled_lines(str(f))) == [(2, "the cat sat", 1), (4, "a dog", 0)]


def test_label_out_of_range_names_file_and_line(tmp_path):
    f = tmp_path / "bad.tsv"
    f.write_text("sentence\tlabel\nthe cat\t0\nthe dog\t3\n")
    with pytest.raises(ValueError, match=r"bad\.tsv:3: label 3 is outside \[0, 1\]"):
        list(read_labelled_lines(str(f), num_classes=2))
    with pytest.raises(FileNotFoundError):
        list(read_labelled_lines(str(tmp_path / "missing.tsv")))


def test_class_weights(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("a\t0\nb\t0\nc\t0\nd\t1\n")
    # total 4, two labels present: w0 = 4/(2*3), w1 = 4/(2*1); class 2 absent -> 1.0
    assert calc_class_weights(str(f), 3) == pytest.approx([4 / 6, 2.0, 1.0])


def test_features_truncation_and_collate(tokenizer, tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("sentence\tlabel\nthe cat sat on the mat\t1\nbig dog\t0\n")
    ds = TextClassificationDataset(tokenizer, input_file=str(f), max_seq_length=5, num_classes=2)
    ids, seg, mask, label = ds[0]
    assert len(ids) == 5 and label == 1
    assert ids[0] == tokenizer.cls_id and ids[-1] == tokenizer.sep_id
    assert tokenizer.ids_to_tokens(ids[1:4]) == ["the", "cat", "sat"]
    input_ids, segments, masks, labels = ds.collate_fn([ds[0], ds[1]])
    assert input_ids.shape == (2, 5) and input_ids.dtype == torch.long
    assert masks[1].tolist() == [1, 1, 1, 1, 0] and input_ids[1, -1] == tokenizer.pad_id
    assert labels.tolist() == [1, 0] and segments.abs().sum() == 0


def test_queries_mode(tokenizer):
    ds = TextClassificationDataset(tokenizer, queries=["the cat", "dog"])
    assert [item[3] for item in ds] == [-1, -1]
    with pytest.raises(ValueError, match="input_file or queries"):
        TextClassificationDataset(tokenizer)
