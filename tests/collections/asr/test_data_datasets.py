"""AudioToChar/BPE datasets, NeMo's collate tuple, config factories and the DataLoader helper."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from nemo.collections.asr.data.audio_to_text import AudioToBPEDataset, AudioToCharDataset, _speech_collate_fn
from nemo.collections.asr.data.audio_to_text_dataset import (
    get_audio_dataloader,
    get_audio_to_text_char_dataset_from_config,
    get_bpe_dataset,
    get_char_dataset,
    inject_dataloader_value_from_model_config,
)
from nemo.collections.asr.parts.preprocessing.manifest import ManifestError

LABELS = [" "] + list("abcdefghijklmnopqrstuvwxyz") + ["'"]
TEXTS = ["one two", "the cat", "a", "it's red", "nine"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "wavs").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i, text in enumerate(TEXTS):
        n = 4000 + 2000 * i  # 0.5 .. 1.5 s at 8 kHz
        sf.write(str(root / "wavs" / f"{i}.wav"), (0.1 * rng.standard_normal(n)).astype(np.float32), 8000, subtype="PCM_16")
        lines.append({"audio_filepath": f"wavs/{i}.wav", "duration": n / 8000, "text": text})
    (root / "m.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def _cfg(corpus, **kw):
    return OmegaConf.create({"manifest_filepath": str(corpus / "m.json"), "labels": LABELS, "sample_rate": 16000, "batch_size": 2, "shuffle": False, **kw})


def test_collate_pads_and_types():
    batch = [
        (torch.ones(3), torch.tensor(3), torch.tensor([1, 2]), torch.tensor(2)),
        (torch.ones(5), torch.tensor(5), torch.tensor([4, 5, 6, 7]), torch.tensor(4)),
    ]
    audio, audio_len, tokens, tokens_len = _speech_collate_fn(batch, pad_id=9)
    assert audio.shape == (2, 5) and audio.dtype == torch.float32 and audio[0, 3:].eq(0).all()
    assert audio_len.tolist() == [3, 5] and audio_len.dtype == torch.int64
    assert tokens.tolist() == [[1, 2, 9, 9], [4, 5, 6, 7]] and tokens.dtype == torch.int64
    assert tokens_len.dtype == torch.int64
    with_ids = _speech_collate_fn([b + (i,) for i, b in enumerate(batch)], pad_id=0)
    assert with_ids[4].tolist() == [0, 1] and with_ids[4].dtype == torch.int32
    no_text = _speech_collate_fn([(torch.ones(2), torch.tensor(2), None, None)], pad_id=0)
    assert no_text[2] is None and no_text[3] is None and no_text[0].shape == (1, 2)


def test_char_dataset_items_resampled_and_tokenised(corpus):
    ds = get_char_dataset(_cfg(corpus))
    assert isinstance(ds, AudioToCharDataset) and len(ds) == 5
    audio, length, tokens, tokens_len = ds[3]
    assert audio.dtype == torch.float32 and length.item() == audio.shape[0] == 20000  # 1.25 s at 16 kHz
    assert "".join(LABELS[t] for t in tokens.tolist()) == "it's red" and tokens_len.item() == 8


def test_char_dataset_normalize_transcripts(corpus, tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"audio_filepath": str(corpus / "wavs" / "0.wav"), "duration": 0.5, "text": "Hello, World 2"}) + "\n")
    raw = get_char_dataset(_cfg(corpus, manifest_filepath=str(tmp_path / "m.json")))
    normed = get_char_dataset(_cfg(corpus, manifest_filepath=str(tmp_path / "m.json"), normalize_transcripts=True))
    assert "".join(LABELS[t] for t in raw[0][2].tolist()) == "ello orld "  # no normalisation by default (NeMo)
    assert "".join(LABELS[t] for t in normed[0][2].tolist()) == "hello world two"


def test_loader_batches_and_duration_filter(corpus):
    loader = get_audio_dataloader(_cfg(corpus, min_duration=0.6, max_duration=1.3, num_workers=0, return_sample_id=True))
    assert loader.dataset.filter_stats.too_short == 1 and loader.dataset.filter_stats.too_long == 1
    batches = list(loader)
    assert [b[0].shape for b in batches] == [torch.Size([2, 16000]), torch.Size([1, 20000])]
    assert batches[0][1].tolist() == [12000, 16000] and batches[0][4].tolist() == [0, 1]


def test_loader_with_workers_and_augmentor_repeats(corpus):
    cfg = _cfg(corpus, shuffle=True, num_workers=2, augmentor={"seed": 1, "white_noise": {"prob": 1.0, "min_level": -30, "max_level": -20}})

    def run():
        torch.manual_seed(0)
        return [b[0] for b in get_audio_dataloader(cfg)]

    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    plain = [b[0] for b in get_audio_dataloader(_cfg(corpus))]
    assert sum(b.shape[0] for b in first) == 5 and not torch.equal(first[0], plain[0])


def test_factory_returns_none_without_manifest_and_rejects_tarred(corpus):
    assert get_audio_to_text_char_dataset_from_config(_cfg(corpus, manifest_filepath=None)) is None
    assert get_audio_dataloader(_cfg(corpus, manifest_filepath=None)) is None
    with pytest.raises(NotImplementedError, match="is_tarred"):
        get_audio_to_text_char_dataset_from_config(_cfg(corpus, is_tarred=True))


def test_unreadable_audio_names_manifest_line(corpus, tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    (tmp_path / "m.json").write_text("\n" + json.dumps({"audio_filepath": "bad.wav", "duration": 1.0, "text": "a"}) + "\n")
    ds = AudioToCharDataset(str(tmp_path / "m.json"), LABELS, 16000)
    with pytest.raises(ManifestError, match=r"m\.json:2: cannot read audio"):
        ds[0]


def test_inject_model_values():
    model = OmegaConf.create({"sample_rate": 16000, "labels": ["a", "b"]})
    ds = OmegaConf.create({"sample_rate": None})
    OmegaConf.set_struct(ds, True)
    inject_dataloader_value_from_model_config(model, ds, "sample_rate")
    inject_dataloader_value_from_model_config(model, ds, "labels")
    assert ds.sample_rate == 16000 and list(ds.labels) == ["a", "b"]
    ds2 = OmegaConf.create({"sample_rate": 8000})
    inject_dataloader_value_from_model_config(model, ds2, "sample_rate")
    assert ds2.sample_rate == 8000
    inject_dataloader_value_from_model_config(OmegaConf.create({}), ds2, "labels")
    assert "labels" not in ds2


class _ToyTokenizer:
    bos_id, eos_id, pad_id = 1, 2, 3

    def text_to_ids(self, text):
        return [10 + ord(c) - ord("a") for c in text if c.isalpha()]


def test_bpe_dataset_adds_bos_eos_and_pads_with_pad_id(corpus):
    ds = get_bpe_dataset(_cfg(corpus), _ToyTokenizer())
    assert isinstance(ds, AudioToBPEDataset)
    assert ds[2][2].tolist() == [1, 10, 2]  # "a" wrapped in BOS/EOS (use_start_end_token defaults to True)
    batch = ds.collate_fn([ds[2], ds[4]])
    assert batch[2].tolist() == [[1, 10, 2, 3, 3, 3], [1, 23, 18, 23, 14, 2]]
    plain = get_bpe_dataset(_cfg(corpus, use_start_end_token=False), _ToyTokenizer())
    assert plain[2][2].tolist() == [10]


def test_bpe_dataset_with_sentencepiece(corpus, tmp_path):
    from nemo.collections.common.tokenizers import SentencePieceTokenizer
    from nemo.collections.common.tokenizers.process_asr_text_tokenizer import process_asr_text_tokenizer

    tok_dir = process_asr_text_tokenizer(manifests=str(corpus / "m.json"), data_root=str(tmp_path), vocab_size=24, spe_type="unigram")
    tok = SentencePieceTokenizer(f"{tok_dir}/tokenizer.model")
    loader = get_audio_dataloader(_cfg(corpus, batch_size=5, num_workers=2), tokenizer=tok)
    audio, audio_len, tokens, tokens_len = next(iter(loader))
    assert [tok.ids_to_text(t[:n].tolist()) for t, n in zip(tokens, tokens_len)] == TEXTS


def test_output_types_name_the_collate_outputs(corpus):
    ds = get_char_dataset(_cfg(corpus, return_sample_id=True))
    assert list(ds.output_types) == ["audio_signal", "a_sig_length", "transcripts", "transcript_length", "sample_id"]
    assert ds.output_types["audio_signal"].elements_type.freq == 16000
