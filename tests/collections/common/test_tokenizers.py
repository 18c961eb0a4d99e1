"""SentencePiece training into NeMo's tokenizer folder layout, encode/decode round trips, char tokenizer."""

import json
import pickle

import pytest

from nemo.collections.common.tokenizers import CharTokenizer, SentencePieceTokenizer, create_spt_model
from nemo.collections.common.tokenizers.process_asr_text_tokenizer import main as tokenizer_cli
from nemo.collections.common.tokenizers.process_asr_text_tokenizer import process_asr_text_tokenizer

SENTENCES = [
    "the cat sees the red ball", "a dog likes the green box", "please open the blue door",
    "don't move the old chair", "it's warm in the park", "three four five six seven",
    "my friend buys two cups", "we see the white house every day", "nine eight zero one two",
] * 5


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "train_manifest.json"
    path.write_text("".join(json.dumps({"audio_filepath": f"{i}.wav", "duration": 1.0, "text": t}) + "\n" for i, t in enumerate(SENTENCES)))
    return str(path)


@pytest.fixture(scope="module")
def tokenizer_dir(manifest, tmp_path_factory):
    return process_asr_text_tokenizer(manifests=manifest, data_root=str(tmp_path_factory.mktemp("tok")), vocab_size=48, spe_type="bpe")


def test_tokenizer_dir_layout(tokenizer_dir):
    import os

    assert os.path.basename(tokenizer_dir) == "tokenizer_spe_bpe_v48"
    assert sorted(os.listdir(tokenizer_dir)) == ["tokenizer.model", "tokenizer.vocab", "vocab.txt"]
    pieces = [line.split("\t")[0] for line in open(os.path.join(tokenizer_dir, "tokenizer.vocab"), encoding="utf-8")]
    vocab_txt = open(os.path.join(tokenizer_dir, "vocab.txt"), encoding="utf-8").read().split("\n")[:-1]
    assert pieces[0] == "<unk>" and "<unk>" not in vocab_txt and len(vocab_txt) == len(pieces) - 1
    expected = [p[1:] or p[0] if p.startswith("▁") else "##" + p for p in pieces[1:]]
    assert vocab_txt == expected


def test_round_trip_and_ids(tokenizer_dir):
    tok = SentencePieceTokenizer(f"{tokenizer_dir}/tokenizer.model")
    text = "please move the red box"
    ids = tok.text_to_ids(text)
    tokens = tok.text_to_tokens(text)
    assert tok.ids_to_text(ids) == text and tok.tokens_to_text(tokens) == text
    assert tok.tokens_to_ids(tokens) == ids and tok.ids_to_tokens(ids) == tokens
    assert tok.token_to_id(tokens[0]) == ids[0]
    assert tok.vocab_size == tok.original_vocab_size == len(tok.vocab) == tok.tokenizer.get_piece_size()
    assert (tok.unk_id, tok.bos_id, tok.eos_id, tok.pad_id) == (0, -1, -1, -1)
    assert tok.ids_to_text(ids) == pickle.loads(pickle.dumps(tok)).ids_to_text(ids)


def test_lower_casing_is_built_into_the_model(tokenizer_dir):
    tok = SentencePieceTokenizer(f"{tokenizer_dir}/tokenizer.model")
    assert tok.text_to_ids("The CAT") == tok.text_to_ids("the cat")


def test_legacy_special_tokens(tokenizer_dir):
    tok = SentencePieceTokenizer(f"{tokenizer_dir}/tokenizer.model", special_tokens={"bos_token": "<BOS>", "sep_token": "<SEP>"}, legacy=True)
    assert tok.vocab_size == tok.original_vocab_size + 2
    ids = tok.text_to_ids("<BOS>the cat<SEP>")
    assert ids[0] == tok.bos_id == tok.original_vocab_size and ids[-1] == tok.sep_id
    assert tok.ids_to_text(ids) == "<BOS> the cat <SEP>"
    with pytest.raises(ValueError, match="legacy"):
        SentencePieceTokenizer(f"{tokenizer_dir}/tokenizer.model", special_tokens=["<X>"])


def test_missing_model_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        SentencePieceTokenizer(str(tmp_path / "none.model"))


def test_create_spt_model_options_and_reuse(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("\n".join(SENTENCES))
    model, vocab = create_spt_model(str(data), 40, -1, True, tokenizer_type="unigram", output_dir=str(tmp_path / "o"), bos=True, eos=True, pad=True)
    tok = SentencePieceTokenizer(model)
    assert (tok.unk_id, tok.bos_id, tok.eos_id, tok.pad_id) == (0, 1, 2, 3)
    assert "<s>" not in open(vocab).read().split()
    assert create_spt_model(str(data), 40, -1, True, output_dir=str(tmp_path / "o")) == (model, vocab)


def test_cli_prints_directory(manifest, tmp_path, capsys):
    out = tokenizer_cli(["--manifest", manifest, "--data_root", str(tmp_path), "--vocab_size", "40", "--spe_type", "unigram", "--spe_pad"])
    assert out.endswith("tokenizer_spe_unigram_v40_pad")
    assert f"Serialized tokenizer at location : {out}" in capsys.readouterr().out
    assert (tmp_path / "text_corpus" / "document.txt").read_text().splitlines() == SENTENCES


def test_char_tokenizer():
    tok = CharTokenizer(list(" abc'"), unk_token="<unk>", pad_token="<pad>")
    assert tok.vocab_size == 7 and tok.pad_id == 5 and tok.unk_id == 6 and tok.bos_id == -1
    ids = tok.text_to_ids("ab c'd")
    assert ids == [1, 2, 0, 3, 4, 6]
    assert tok.ids_to_text(ids) == "ab c'"
    assert CharTokenizer(list("ab"), unk_token=None, lowercase=True).text_to_ids("AxB") == [0, 1]
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])
