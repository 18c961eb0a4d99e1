"""Text-only data for the hybrid ASR-TTS model: text manifests tokenized for TTS and ASR, mixed with audio.

`TextToTextDataset` reads `{"text": ...}` lines; `TextOrAudioDataset` with `AudioTextMixingSampler`
interleaves them with an ASR audio dataset, and `collate_text_or_audio` builds `TextOrAudioToTextBatch`es.
"""

import random
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch

from nemo.collections.asr.parts.preprocessing.manifest import ManifestError, iter_manifest_lines, split_manifest_paths


@dataclass
class TextToTextBatch:
    """Text-only part of a batch: TTS input ids and ASR target ids."""

    tts_texts: torch.Tensor
    tts_text_lengths: torch.Tensor
    transcripts: torch.Tensor
    transcript_lengths: torch.Tensor


@dataclass
class TextOrAudioToTextBatch:
    """A mixed batch: an audio part (ASR tuple or None) and a text part (TextToTextBatch or None)."""

    audio: Optional[tuple]
    text: Optional[TextToTextBatch]


def _pad_stack(seqs: Sequence[torch.Tensor], value: int = 0) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=value)


class TextToTextDataset(torch.utils.data.Dataset):
    """Text-only manifest lines (`{"text": ...}`) -> (TTS token ids, ASR token ids), filtered by word count."""

    def __init__(self, manifest_filepath, tts_encode: Callable[[str], List[int]],
                 asr_encode: Callable[[str], List[int]], min_words: int = 1, max_words: int = 45):
        self.items = []
        for path in split_manifest_paths(manifest_filepath):
            for number, item in iter_manifest_lines(path):
                if isinstance(item, Exception):
                    raise item
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise ManifestError(f"{path}:{number}: a text-only manifest line needs a string 'text'")
                text = item["text"]
                if min_words <= len(text.split()) <= max_words:
                    tts_ids, asr_ids = tts_encode(text), asr_encode(text)
                    if tts_ids and asr_ids:
                        self.items.append((torch.tensor(tts_ids), torch.tensor(asr_ids)))
        if not self.items:
            raise ManifestError(f"no usable text in {manifest_filepath} (min_words={min_words}, max_words={max_words})")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


class TextOrAudioDataset(torch.utils.data.Dataset):
    """Index i < len(audio) is an audio item, the rest text items; an `AudioTextMixingSampler` decides the order."""

    def __init__(self, audio: Optional[torch.utils.data.Dataset], text: TextToTextDataset):
        self.audio, self.text = audio, text

    def __len__(self) -> int:
        return (len(self.audio) if self.audio is not None else 0) + len(self.text)

    def __getitem__(self, index: int):
        n_audio = len(self.audio) if self.audio is not None else 0
        return ("audio", self.audio[index]) if index < n_audio else ("text", self.text[index - n_audio])


class AudioTextMixingSampler(torch.utils.data.Sampler):
    """Interleaves audio and text indices: round-robin (alternating, the shorter source cycled) or random
    with given probabilities. One epoch visits every item of the longer source once."""

    def __init__(self, n_audio: int, n_text: int, technique: str = "round-robin", probabilities=None, seed: int = 0):
        if technique not in ("round-robin", "random"):
            raise ValueError(f"asr_tts_sampling_technique must be 'round-robin' or 'random', got {technique!r}")
        self.n_audio, self.n_text, self.technique = n_audio, n_text, technique
        self.probabilities = list(probabilities or [0.5, 0.5])
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return 2 * max(self.n_audio, self.n_text) if self.n_audio else self.n_text

    def __iter__(self):
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        audio = [i for i in range(self.n_audio)]
        text = [self.n_audio + i for i in range(self.n_text)]
        rng.shuffle(audio)
        rng.shuffle(text)
        if not audio:
            yield from text
            return
        for k in range(len(self)):
            use_audio = (k % 2 == 0) if self.technique == "round-robin" else rng.random() < self.probabilities[0]
            src = audio if use_audio else text
            yield src[(k // 2 if self.technique == "round-robin" else rng.randrange(len(src))) % len(src)]


def collate_text_or_audio(items, audio_collate: Optional[Callable], tts_pad_id: int,
                          asr_pad_id: int) -> TextOrAudioToTextBatch:
    """`("audio", item)` / `("text", (tts_ids, asr_ids))` pairs -> one batch with padded parts."""
    audio = [x for kind, x in items if kind == "audio"]
    text = [x for kind, x in items if kind == "text"]
    text_batch = None
    if text:
        text_batch = TextToTextBatch(
            tts_texts=_pad_stack([t for t, _ in text], tts_pad_id),
            tts_text_lengths=torch.tensor([len(t) for t, _ in text]),
            transcripts=_pad_stack([a for _, a in text], asr_pad_id),
            transcript_lengths=torch.tensor([len(a) for _, a in text]))
    return TextOrAudioToTextBatch(audio=audio_collate(audio) if audio else None, text=text_batch)
