"""Text-only data of the hybrid ASR-TTS model: manifest reading, word filters, audio/text mixing and collation."""

import json

import pytest
import torch

from nemo.collections.asr.data.text_to_text import (
    AudioTextMixingSampler,
    TextOrAudioDataset,
    TextOrAudioToTextBatch,
    TextToTextDataset,
    collate_text_or_audio,
)
from nemo.collections.asr.parts.preprocessing.manifest import ManifestError


def _encode(text):
    return [len(word) for word in text.split()]


def _manifest(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def test_reads_several_manifests_and_filters_by_word_count(tmp_path):
    a = _manifest(tmp_path / "a.json", [{"text": "one"}, {"text": "two words"}, "", {"text": "a b c d"}])
    b = _manifest(tmp_path / "b.json", [{"text": "three more words"}])
    ds = TextToTextDataset(f"{a},{b}", _encode, lambda t: [1] * len(t), min_words=2, max_words=3)
    assert len(ds) == 2
    tts_ids, asr_ids = ds[1]
    assert tts_ids.tolist() == [5, 4, 5] and asr_ids.tolist() == [1] * len("three more words")


@pytest.mark.parametrize("line, message", [('{"text": ', "invalid JSON"), ('{"txt": "x"}', "string 'text'")])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = _manifest(tmp_path / "bad.json", [{"text": "fine"}, line])
    with pytest.raises(ManifestError, match=rf"bad\.json:2: .*{message}"):
        TextToTextDataset(path, _encode, _encode)


def test_no_usable_text_is_an_error(tmp_path):
    with pytest.raises(ManifestError, match="no usable text"):
        TextToTextDataset(_manifest(tmp_path / "m.json", [{"text": "far too many words here"}]), _encode, _encode,
                          max_words=2)


def test_round_robin_alternates_and_cycles_the_shorter_source():
    sampler = AudioTextMixingSampler(n_audio=2, n_text=4, technique="round-robin")
    order = list(sampler)
    assert len(order) == len(sampler) == 8
    assert all(i < 2 for i in order[0::2]) and sorted(order[1::2]) == [2, 3, 4, 5]
    assert sorted(list(AudioTextMixingSampler(0, 3))) == [0, 1, 2]
    with pytest.raises(ValueError, match="round-robin"):
        AudioTextMixingSampler(1, 1, technique="temperature")


def test_random_technique_follows_the_probabilities():
    order = list(AudioTextMixingSampler(n_audio=100, n_text=100, technique="random", probabilities=[0.9, 0.1]))
    audio_share = sum(i < 100 for i in order) / len(order)
    assert 0.8 < audio_share < 0.97


def test_collate_pads_text_and_delegates_audio():
    text = [(torch.tensor([1, 2, 3]), torch.tensor([7])), (torch.tensor([4]), torch.tensor([8, 9]))]
    mixed = TextOrAudioDataset(audio=[torch.tensor([0.5, 0.25])], text=text)
    items = [mixed[i] for i in range(len(mixed))]
    assert [kind for kind, _ in items] == ["audio", "text", "text"]
    batch = collate_text_or_audio(items, audio_collate=lambda xs: ("audio", len(xs)), tts_pad_id=0, asr_pad_id=-1)
    assert isinstance(batch, TextOrAudioToTextBatch) and batch.audio == ("audio", 1)
    assert batch.text.tts_texts.tolist() == [[1, 2, 3], [4, 0, 0]] and batch.text.tts_text_lengths.tolist() == [3, 1]
    assert batch.text.transcripts.tolist() == [[7, -1], [8, 9]] and batch.text.transcript_lengths.tolist() == [1, 2]
    assert collate_text_or_audio(items[1:], None, 0, 0).audio is None
