"""`transcribe()` for CTC models (spec §2.4): paths, manifests, arrays or a DataLoader in, Hypotheses out.

Inputs are batched longest-first (less padding) and the results come back in input order. Audio is
read in memory, so no temporary manifest or folder is written.
"""

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from nemo.utils import logging


@dataclass
class InternalTranscribeConfig:
    """State saved by `_transcribe_on_begin` and restored by `_transcribe_on_end`."""

    device: Optional[torch.device] = None
    dtype: Optional[torch.dtype] = None
    training_mode: bool = False
    logging_level: Optional[Any] = None
    dither_value: float = 0.0
    pad_to_value: int = 0
    temp_dir: Optional[str] = None
    manifest_filepath: Optional[str] = None


@dataclass
class TranscribeConfig:
    """Options of one `transcribe` call."""

    batch_size: int = 4
    return_hypotheses: bool = False
    num_workers: Optional[int] = None
    channel_selector: Optional[Any] = None
    augmentor: Optional[Any] = None
    timestamps: Optional[bool] = None
    verbose: bool = True
    partial_hypothesis: Optional[List[Any]] = None
    _internal: Optional[InternalTranscribeConfig] = None


class _AudioItems(torch.utils.data.Dataset):
    """Audio sources (file records or arrays) -> (float32 samples, length), read on demand."""

    def __init__(self, sources: List[Dict[str, Any]], sample_rate: int, channel_selector=None, augmentor=None):
        self.sources = sources
        self.sample_rate = sample_rate
        self.channel_selector = channel_selector
        self.augmentor = augmentor

    def __len__(self) -> int:
        return len(self.sources)

    def num_samples(self, i: int) -> int:
        """Length used for sorting (from the file header for files; exact for arrays)."""
        src = self.sources[i]
        if "samples" in src:
            return int(src["samples"].shape[-1])
        import soundfile as sf

        info = sf.info(src["audio_filepath"])
        seconds = info.frames / info.samplerate - float(src.get("offset") or 0.0)
        if src.get("duration"):
            seconds = min(seconds, float(src["duration"]))
        return max(int(seconds * self.sample_rate), 0)

    def __getitem__(self, i: int):
        src = self.sources[i]
        if "samples" in src:
            samples = np.asarray(src["samples"], dtype=np.float32)
            if self.augmentor is None:
                return torch.from_numpy(samples.copy()), samples.shape[0]
        from nemo.collections.asr.parts.preprocessing.segment import AudioSegment

        if "samples" in src:
            segment = AudioSegment(samples, self.sample_rate)
        else:
            segment = AudioSegment.from_file(
                src["audio_filepath"], target_sr=self.sample_rate, offset=float(src.get("offset") or 0.0),
                duration=float(src.get("duration") or 0.0), channel_selector=self.channel_selector,
            )
        if self.augmentor is not None:
            segment = self.augmentor.perturb(segment)
        samples = np.asarray(segment.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"{src.get('audio_filepath', 'array input')}: audio has {samples.shape[-1]} channels; "
                             "pass channel_selector (an index, or 'average') to transcribe multi-channel audio")
        return torch.from_numpy(samples), samples.shape[0]


def _collate(batch):
    lengths = torch.tensor([n for _, n in batch], dtype=torch.long)
    signal = torch.zeros(len(batch), int(lengths.max()) if len(batch) else 0, dtype=torch.float32)
    for row, (samples, n) in enumerate(batch):
        signal[row, :n] = samples
    return signal, lengths


def _read_manifest(path: str) -> List[Dict[str, Any]]:
    base = os.path.dirname(os.path.abspath(path))
    records = []
    with open(path, "r", encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{line_no}: not a JSON object ({e})") from e
            records.append(_resolve_record(record, base))
    return records


def _resolve_record(record: Dict[str, Any], base: Optional[str] = None) -> Dict[str, Any]:
    record = dict(record)
    path = record.get("audio_filepath") or record.get("audio_filename")
    if path is None:
        raise ValueError(f"manifest entry has no audio_filepath: {record}")
    if base is not None and not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(base, path)
    record["audio_filepath"] = path
    return record


def _is_manifest_path(audio: Sequence) -> bool:
    first = audio[0]
    return isinstance(first, str) and (
        (len(audio) == 1 and first.endswith(".json")) or first.endswith(".jsonl")
    )


def _to_sources(audio) -> List[Dict[str, Any]]:
    """Normalise every accepted input form into a list of source records."""
    if isinstance(audio, (str, os.PathLike)):
        audio = [os.fspath(audio)]
    if isinstance(audio, (np.ndarray, torch.Tensor)):
        audio = [audio]
    audio = list(audio)
    if not audio:
        return []
    if _is_manifest_path(audio):
        return _read_manifest(audio[0])
    sources = []
    for item in audio:
        if isinstance(item, (str, os.PathLike)):
            sources.append({"audio_filepath": os.fspath(item)})
        elif isinstance(item, dict):
            sources.append(_resolve_record(item))
        elif isinstance(item, (np.ndarray, torch.Tensor)):
            samples = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item
            if samples.ndim != 1:
                raise ValueError(f"array inputs must be 1-D mono samples, got shape {tuple(samples.shape)}")
            sources.append({"samples": samples.astype(np.float32, copy=False)})
        else:
            raise TypeError(f"cannot transcribe an item of type {type(item).__name__}")
    return sources


class ASRTranscriptionMixin:
    """Adds `transcribe()` to a model with `preprocessor`, `encoder`, `decoder`, `decoding` and `forward`."""

    @torch.inference_mode()
    def transcribe(
        self,
        audio: Union[str, List[str], np.ndarray, torch.Tensor, List[Any], torch.utils.data.DataLoader],
        batch_size: int = 4,
        return_hypotheses: bool = False,
        num_workers: int = 0,
        channel_selector=None,
        augmentor=None,
        verbose: bool = True,
        timestamps: Optional[bool] = None,
        override_config: Optional[TranscribeConfig] = None,
        **config_kwargs,
    ) -> List[Any]:
        """Transcribe audio; returns one Hypothesis per input (its `.text` is the transcript), in input order."""
        if override_config is None:
            config = TranscribeConfig(
                batch_size=batch_size, return_hypotheses=return_hypotheses, num_workers=num_workers,
                channel_selector=channel_selector, augmentor=augmentor, verbose=verbose, timestamps=timestamps,
                _internal=InternalTranscribeConfig(), **config_kwargs,
            )
        else:
            config = override_config
            if config._internal is None:
                config._internal = InternalTranscribeConfig()
        if isinstance(audio, torch.utils.data.DataLoader):
            loader, batches, count = audio, None, None
        else:
            sources = _to_sources(audio)
            if not sources:
                return []
            loader = self._transcribe_loader(sources, config)
            batches, count = loader.batch_sampler, len(sources)
        self._transcribe_on_begin(config)
        try:
            return self._transcribe_loop(loader, batches, count, config)
        finally:
            self._transcribe_on_end(config)

    def _transcribe_loader(self, sources, config: TranscribeConfig) -> torch.utils.data.DataLoader:
        from nemo.collections.asr.parts.preprocessing.perturb import process_augmentations

        augmentor = process_augmentations(config.augmentor) if config.augmentor is not None else None
        dataset = _AudioItems(sources, self.preprocessor._sample_rate, config.channel_selector, augmentor)
        lengths = [dataset.num_samples(i) for i in range(len(dataset))]
        order = sorted(range(len(dataset)), key=lambda i: -lengths[i])
        batch_size = max(1, min(int(config.batch_size), len(dataset)))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        num_workers = config.num_workers
        if num_workers is None:
            num_workers = max(0, min(batch_size, (os.cpu_count() or 1) - 1))
        return torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=_collate,
                                           num_workers=int(num_workers))

    def _transcribe_loop(self, loader, batches, count, config: TranscribeConfig) -> List[Any]:
        from tqdm import tqdm

        device = config._internal.device
        results: List[Any] = [None] * count if count is not None else []
        for batch_no, batch in enumerate(tqdm(loader, desc="Transcribing", disable=not config.verbose)):
            outputs = self._transcribe_forward((batch[0].to(device), batch[1].to(device)), config)
            hyps = self._transcribe_output_processing(outputs, config)
            if batches is None:
                results.extend(hyps)
            else:
                for index, hyp in zip(batches[batch_no], hyps):
                    results[index] = hyp
        return results

    def _transcribe_forward(self, batch, config: TranscribeConfig) -> Dict[str, Any]:
        """One batch (signal, length) through the model: CTC log-probs and lengths (transducers override)."""
        log_probs, encoded_len, _ = self.forward(input_signal=batch[0], input_signal_length=batch[1])
        return {"logits": log_probs, "encoded_len": encoded_len}

    def _transcribe_output_processing(self, outputs: Dict[str, Any], config: TranscribeConfig) -> List[Any]:
        """Model outputs -> Hypotheses (CTC: greedy text; with hypotheses, y_sequence = the frame log-probs)."""
        log_probs, encoded_len = outputs["logits"], outputs["encoded_len"]
        hyps = self.decoding.ctc_decoder_predictions_tensor(
            log_probs, decoder_lengths=encoded_len, return_hypotheses=config.return_hypotheses
        )
        if config.return_hypotheses:
            for i, hyp in enumerate(hyps):
                frames = log_probs[i, : int(encoded_len[i])].float().cpu()
                hyp.y_sequence = frames
                if hyp.alignments is None:
                    hyp.alignments = frames
        if self.decoding.compute_timestamps:
            self._timestamps_to_seconds(hyps)
        return hyps

    def _timestamps_to_seconds(self, hyps) -> None:
        """Add `start`/`end` seconds to frame offsets (frame = window_stride * subsampling factor)."""
        stride = float(self._cfg.preprocessor.get("window_stride", 0.01)) * getattr(self.encoder, "subsampling_factor", 1)
        for hyp in hyps:
            if not isinstance(hyp.timestamp, dict):
                continue
            for key in ("char", "word", "segment"):
                for entry in hyp.timestamp.get(key, []):
                    entry["start"] = entry["start_offset"] * stride
                    entry["end"] = entry["end_offset"] * stride

    def _transcribe_on_begin(self, config: TranscribeConfig) -> None:
        internal = config._internal
        first = next(self.parameters())
        internal.device, internal.dtype = first.device, first.dtype
        internal.training_mode = self.training
        featurizer = self.preprocessor.featurizer
        internal.dither_value, internal.pad_to_value = featurizer.dither, featurizer.pad_to
        featurizer.dither, featurizer.pad_to = 0.0, 0
        self.eval()
        internal.logging_level = logging.getEffectiveLevel()
        if not config.verbose:
            logging.setLevel("WARNING")
        self.encoder.freeze()
        self.decoder.freeze()

    def _transcribe_on_end(self, config: TranscribeConfig) -> None:
        internal = config._internal
        featurizer = self.preprocessor.featurizer
        featurizer.dither, featurizer.pad_to = internal.dither_value, internal.pad_to_value
        self.encoder.unfreeze(partial=True)
        self.decoder.unfreeze(partial=True)
        self.train(internal.training_mode)
        if internal.logging_level is not None:
            logging.setLevel(internal.logging_level)
