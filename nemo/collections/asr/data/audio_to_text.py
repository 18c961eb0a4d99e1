"""Audio + transcript datasets read from NeMo manifests, and NeMo's speech collate function."""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from nemo.collections.asr.parts.preprocessing.manifest import ManifestError, filter_entries, read_manifest, split_manifest_paths
from nemo.collections.asr.parts.preprocessing.segment import AudioSegment
from nemo.core.classes.dataset import Dataset
from nemo.core.neural_types import AudioSignal, LabelsType, LengthsType, NeuralType


def _speech_collate_fn(batch: Sequence[tuple], pad_id: int = 0):
    """Pad a list of `(audio, audio_len, tokens, tokens_len[, sample_id])` items into batch tensors.

    Returns `(audio_signal (B,T) float32, audio_lengths (B,) int64, tokens (B,U) int64, token_lengths (B,) int64)`
    plus `sample_ids` (B,) int32 for 5-tuples. Audio is zero-padded, tokens padded with `pad_id`.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    has_ids = len(batch[0]) == 5
    audio_present, tokens_present = batch[0][0] is not None, batch[0][2] is not None
    audio_signal = audio_lengths = tokens = token_lengths = None
    # Padding is done in numpy: torch's small multi-threaded copies crawl on a busy CPU.
    if audio_present:
        audio_lengths = torch.tensor([int(item[1]) for item in batch], dtype=torch.long)
        padded = np.zeros((len(batch), int(audio_lengths.max())), dtype=np.float32)
        for i, item in enumerate(batch):
            padded[i, : item[0].shape[0]] = np.asarray(item[0], dtype=np.float32)
        audio_signal = torch.from_numpy(padded)
    if tokens_present:
        token_lengths = torch.tensor([int(item[3]) for item in batch], dtype=torch.long)
        padded_tokens = np.full((len(batch), int(token_lengths.max())), pad_id, dtype=np.int64)
        for i, item in enumerate(batch):
            padded_tokens[i, : item[2].shape[0]] = np.asarray(item[2], dtype=np.int64)
        tokens = torch.from_numpy(padded_tokens)
    if has_ids:
        sample_ids = torch.tensor([int(item[4]) for item in batch], dtype=torch.int32)
        return audio_signal, audio_lengths, tokens, token_lengths, sample_ids
    return audio_signal, audio_lengths, tokens, token_lengths


class _AudioTextDataset(Dataset):
    """Manifest-backed dataset yielding `(audio float32 (L,), L, tokens int64 (U,), U[, index])`."""

    def __init__(
        self,
        manifest_filepath,
        parser: Callable[[str], Optional[List[int]]],
        sample_rate: int,
        int_values: bool = False,
        augmentor=None,
        max_duration: Optional[float] = None,
        min_duration: Optional[float] = None,
        max_utts: int = 0,
        trim: bool = False,
        bos_id: Optional[int] = None,
        eos_id: Optional[int] = None,
        pad_id: int = 0,
        return_sample_id: bool = False,
        channel_selector=None,
        manifest_parse_func=None,
    ):
        paths = split_manifest_paths(manifest_filepath)
        if not paths:
            raise ValueError("manifest_filepath is empty")
        entries = read_manifest(paths)
        if manifest_parse_func is not None:
            entries = [manifest_parse_func(e) for e in entries]
        self.entries, self.filter_stats = filter_entries(
            entries, parse=parser, min_duration=min_duration, max_duration=max_duration, max_utts=max_utts,
            name=",".join(paths),
        )
        self.manifest_filepath = paths
        self.parser = parser
        self.sample_rate = int(sample_rate)
        self.int_values, self.trim, self.channel_selector = int_values, trim, channel_selector
        self.augmentor = augmentor
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        self.return_sample_id = return_sample_id

    @property
    def output_types(self):
        types = {
            "audio_signal": NeuralType(("B", "T"), AudioSignal(freq=self.sample_rate)),
            "a_sig_length": NeuralType(tuple("B"), LengthsType()),
            "transcripts": NeuralType(("B", "T"), LabelsType()),
            "transcript_length": NeuralType(tuple("B"), LengthsType()),
        }
        if self.return_sample_id:
            types["sample_id"] = NeuralType(tuple("B"), LengthsType())
        return types

    def __len__(self) -> int:
        return len(self.entries)

    def load_audio(self, index: int) -> AudioSegment:
        """Read (and augment) the audio of entry `index` at the dataset's sample rate."""
        entry = self.entries[index]
        try:
            segment = AudioSegment.from_file(
                entry.audio_file, target_sr=self.sample_rate, int_values=self.int_values, offset=entry.offset,
                duration=entry.duration, trim=self.trim, channel_selector=self.channel_selector,
            )
        except Exception as err:  # noqa: BLE001 - re-raised with the manifest position
            raise ManifestError(f"{entry.manifest}:{entry.line}: cannot read audio '{entry.audio_file}': {err}") from err
        if segment.samples.ndim != 1:
            raise ManifestError(
                f"{entry.manifest}:{entry.line}: '{entry.audio_file}' has {segment.samples.shape[1]} channels; "
                "set channel_selector ('average' or a channel index)"
            )
        if self.augmentor is not None:
            self.augmentor.perturb(segment)
        return segment

    def __getitem__(self, index: int):
        segment = self.load_audio(index)
        audio = torch.from_numpy(segment.samples)
        tokens = list(self.entries[index].tokens or [])
        if self.bos_id is not None:
            tokens = [self.bos_id] + tokens
        if self.eos_id is not None:
            tokens = tokens + [self.eos_id]
        item = (
            audio,
            torch.tensor(audio.shape[0], dtype=torch.long),
            torch.tensor(tokens, dtype=torch.long),
            torch.tensor(len(tokens), dtype=torch.long),
        )
        return item + (index,) if self.return_sample_id else item

    def collate_fn(self, batch):
        return _speech_collate_fn(batch, pad_id=self.pad_id)

    @property
    def durations(self) -> List[float]:
        return [e.duration for e in self.entries]


class AudioToCharDataset(_AudioTextDataset):
    """Character-level dataset: transcripts become ids of `labels` through `make_parser(labels, parser)`."""

    def __init__(
        self,
        manifest_filepath,
        labels: List[str],
        sample_rate: int,
        int_values: bool = False,
        augmentor=None,
        max_duration: Optional[float] = None,
        min_duration: Optional[float] = None,
        max_utts: int = 0,
        blank_index: int = -1,
        unk_index: int = -1,
        normalize: bool = True,
        trim: bool = False,
        bos_id: Optional[int] = None,
        eos_id: Optional[int] = None,
        pad_id: int = 0,
        parser="en",
        return_sample_id: bool = False,
        channel_selector=None,
        manifest_parse_func=None,
    ):
        from nemo.collections.common.parts.preprocessing.parsers import make_parser

        if labels is None:
            raise ValueError("AudioToCharDataset needs `labels` (usually injected from the model config)")
        self.labels = list(labels)
        if isinstance(parser, str):
            parser = make_parser(self.labels, name=parser, unk_id=unk_index, blank_id=blank_index, do_normalize=normalize)
        super().__init__(
            manifest_filepath, parser, sample_rate, int_values=int_values, augmentor=augmentor,
            max_duration=max_duration, min_duration=min_duration, max_utts=max_utts, trim=trim, bos_id=bos_id,
            eos_id=eos_id, pad_id=pad_id, return_sample_id=return_sample_id, channel_selector=channel_selector,
            manifest_parse_func=manifest_parse_func,
        )


class AudioToBPEDataset(_AudioTextDataset):
    """Subword dataset: transcripts become `tokenizer.text_to_ids(text)`, optionally wrapped in BOS/EOS."""

    def __init__(
        self,
        manifest_filepath,
        tokenizer,
        sample_rate: int,
        int_values: bool = False,
        augmentor=None,
        max_duration: Optional[float] = None,
        min_duration: Optional[float] = None,
        max_utts: int = 0,
        trim: bool = False,
        use_start_end_token: bool = True,
        return_sample_id: bool = False,
        channel_selector=None,
        manifest_parse_func=None,
    ):
        def _id(name):
            value = getattr(tokenizer, name, None)
            return value if isinstance(value, int) and value > 0 else None

        bos_id = _id("bos_id") if use_start_end_token else None
        eos_id = _id("eos_id") if use_start_end_token else None
        pad_id = _id("pad_id") or 0
        self.tokenizer = tokenizer
        super().__init__(
            manifest_filepath, tokenizer.text_to_ids, sample_rate, int_values=int_values, augmentor=augmentor,
            max_duration=max_duration, min_duration=min_duration, max_utts=max_utts, trim=trim, bos_id=bos_id,
            eos_id=eos_id, pad_id=pad_id, return_sample_id=return_sample_id, channel_selector=channel_selector,
            manifest_parse_func=manifest_parse_func,
        )
