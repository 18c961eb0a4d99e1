"""`transcribe()` for CTC models (spec §2.4): paths, manifests, arrays or a DataLoader in, Hypotheses out.

Inputs are batched longest-first (less padding) and the results come back in input order. Audio is
read in memory, so no temporary manifest or folder is written.

Audio longer than `chunk_duration_s + chunk_context_s` (60 + 4 s by default) is read and run in chunks of
`chunk_duration_s` with `chunk_context_s` of audio on each side; only each chunk's central frames are kept,
and the merged per-frame outputs (CTC log-probs, or transducer encodings) are decoded once. Memory then
grows with the audio only by those outputs, not by features and activations (figures in bench/README.md,
`bench/asr_long_audio_memory.py`). Models take part through `_transcribe_forward` (a batch -> outputs
dict), `_transcribe_output_processing` (outputs -> hypotheses), `_transcribe_frame_outputs` (which outputs
are per-frame, and their time axis) and `_transcribe_frame_hop` (input samples per output frame).
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
    chunk_duration_s: Optional[float] = 60.0  # None or 0: every input in one pass, memory grows with its length
    chunk_context_s: float = 4.0
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
        """Length used for sorting and chunking (from the file header for files; exact for arrays)."""
        src = self.sources[i]
        if "samples" in src:
            return int(src["samples"].shape[-1])
        import soundfile as sf

        from nemo.collections.asr.parts.preprocessing.segment import check_sample_rate

        info = sf.info(src["audio_filepath"])
        check_sample_rate(info.samplerate, src["audio_filepath"], self.sample_rate)
        seconds = info.frames / info.samplerate - float(src.get("offset") or 0.0)
        if src.get("duration"):
            seconds = min(seconds, float(src["duration"]))
        return max(int(seconds * self.sample_rate), 0)

    def __getitem__(self, i: int):
        return self.read(i)

    def read(self, i: int, start: int = 0, stop: Optional[int] = None):
        """Samples [start, stop) of source `i` at the model's rate (all of it by default), and their count."""
        src = self.sources[i]
        window = stop is not None
        if "samples" in src:
            samples = np.asarray(src["samples"][start:stop] if window else src["samples"], dtype=np.float32)
            if self.augmentor is None:
                return torch.from_numpy(samples.copy()), samples.shape[0]
        from nemo.collections.asr.parts.preprocessing.segment import AudioSegment

        if "samples" in src:
            segment = AudioSegment(samples, self.sample_rate)
        else:
            offset = float(src.get("offset") or 0.0)
            duration = float(src.get("duration") or 0.0)
            if window:
                offset, duration = offset + start / self.sample_rate, (stop - start) / self.sample_rate
            segment = AudioSegment.from_file(
                src["audio_filepath"], target_sr=self.sample_rate, offset=offset, duration=duration,
                channel_selector=self.channel_selector,
            )
        if self.augmentor is not None:
            segment = self.augmentor.perturb(segment)
        samples = np.asarray(segment.samples, dtype=np.float32)
        if window and "samples" not in src and samples.ndim == 1:  # resampling rounds: exactly stop - start
            samples = np.pad(samples[: stop - start], (0, max(0, stop - start - samples.shape[0])))
        if samples.ndim != 1:
            raise ValueError(f"{src.get('audio_filepath', 'array input')}: audio has {samples.shape[-1]} channels; "
                             "pass channel_selector (an index, or 'average') to transcribe multi-channel audio")
        return torch.from_numpy(samples), samples.shape[0]


class _Windows(torch.utils.data.Dataset):
    """The chunk windows of one long source, read on demand."""

    def __init__(self, items: _AudioItems, index: int, windows):
        self.items, self.index, self.windows = items, index, windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, k: int):
        start, stop = self.windows[k][:2]
        return self.items.read(self.index, start, stop)


def _put(buffer: Optional[torch.Tensor], piece: torch.Tensor, axis: int, at: int, capacity: int) -> torch.Tensor:
    """Write `piece` into `buffer` at `at` along `axis`, allocating `capacity` frames first (doubled if short)."""
    need = at + piece.shape[axis]
    if buffer is None or buffer.shape[axis] < need:
        shape = list(piece.shape)
        shape[axis] = max(capacity, need, 2 * buffer.shape[axis] if buffer is not None else 0)
        grown = piece.new_empty(shape)
        if buffer is not None:
            grown.narrow(axis, 0, at).copy_(buffer.narrow(axis, 0, at))
        buffer = grown
    buffer.narrow(axis, at, piece.shape[axis]).copy_(piece)
    return buffer


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
            self._transcribe_on_begin(config)
            try:
                return self._transcribe_loop(audio, None, [], config)
            finally:
                self._transcribe_on_end(config)
        sources = _to_sources(audio)
        if not sources:
            return []
        dataset = self._transcribe_dataset(sources, config)
        lengths = [dataset.num_samples(i) for i in range(len(dataset))]
        plan = self._transcribe_chunk_plan(config)
        long = {i for i in range(len(dataset)) if plan is not None and lengths[i] > plan[1] + plan[2]}
        short = [i for i in range(len(dataset)) if i not in long]
        results: List[Any] = [None] * len(sources)
        self._transcribe_on_begin(config)
        try:
            if short:
                loader = self._transcribe_loader(dataset, short, lengths, config)
                self._transcribe_loop(loader, loader.batch_sampler, results, config)
            for i in sorted(long):
                results[i] = self._transcribe_long(dataset, i, lengths[i], plan, config)
            return results
        finally:
            self._transcribe_on_end(config)

    def _transcribe_dataset(self, sources, config: TranscribeConfig) -> _AudioItems:
        from nemo.collections.asr.parts.preprocessing.perturb import process_augmentations

        augmentor = process_augmentations(config.augmentor) if config.augmentor is not None else None
        return _AudioItems(sources, self.preprocessor._sample_rate, config.channel_selector, augmentor)

    @staticmethod
    def _num_workers(config: TranscribeConfig, batch_size: int) -> int:
        if config.num_workers is None:
            return max(0, min(batch_size, (os.cpu_count() or 1) - 1))
        return int(config.num_workers)

    def _transcribe_loader(self, dataset, indices, lengths, config: TranscribeConfig) -> torch.utils.data.DataLoader:
        """Batches of `indices`, longest first."""
        order = sorted(indices, key=lambda i: -lengths[i])
        batch_size = max(1, min(int(config.batch_size), len(order)))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=_collate,
                                           num_workers=self._num_workers(config, batch_size))

    def _transcribe_loop(self, loader, batches, results: List[Any], config: TranscribeConfig) -> List[Any]:
        """Run every batch of `loader`; hypotheses go to `results[index]` per `batches`, else are appended."""
        from tqdm import tqdm

        device = config._internal.device
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
                for h in hyp if isinstance(hyp, list) else [hyp]:  # n-best beam results are lists
                    h.y_sequence = frames
                    if h.alignments is None:
                        h.alignments = frames
        if self.decoding.compute_timestamps:
            self._timestamps_to_seconds(hyps)
        return hyps

    # ------------------------------------------------------------------ long audio
    # outputs of `_transcribe_forward` that hold one entry per frame, and their time axis; others are dropped
    _transcribe_frame_outputs = {"logits": 1, "encoded": 2}

    def _transcribe_frame_hop(self) -> Optional[int]:
        """Input samples per output frame (feature hop x encoder subsampling); None: the model is not chunked."""
        hop = getattr(self.preprocessor, "hop_length", None)
        factor = getattr(self.encoder, "subsampling_factor", None)
        return int(hop) * int(factor) if hop and factor else None

    def _transcribe_chunk_plan(self, config: TranscribeConfig):
        """(frame hop, chunk, context) in samples, each a whole number of frames; None: no chunking."""
        hop = self._transcribe_frame_hop()
        if not config.chunk_duration_s or hop is None:
            return None
        if config.chunk_duration_s < 0 or config.chunk_context_s is None or config.chunk_context_s < 0:
            raise ValueError(
                f"transcribe: chunk_duration_s={config.chunk_duration_s} and chunk_context_s={config.chunk_context_s} "
                "must not be negative (chunk_duration_s=None turns chunking off)"
            )
        sr = float(self.preprocessor._sample_rate)
        chunk = max(1, int(round(config.chunk_duration_s * sr / hop))) * hop
        context = int(round(config.chunk_context_s * sr / hop)) * hop
        return hop, chunk, context

    def _transcribe_long(self, dataset: _AudioItems, index: int, length: int, plan, config: TranscribeConfig):
        """One long input, read and run chunk by chunk; the chunks' central frames are merged and decoded once."""
        from tqdm import tqdm

        hop, chunk, context = plan
        windows = []  # (read start, read stop, first kept frame, frames kept; None = to the end)
        for core in range(0, length, chunk):
            start, stop = max(0, core - context), min(length, core + chunk + context)
            windows.append((start, stop, (core - start) // hop, None if core + chunk >= length else chunk // hop))
        batch_size = max(1, int(config.batch_size))
        loader = torch.utils.data.DataLoader(_Windows(dataset, index, windows), batch_size=batch_size,
                                             collate_fn=_collate, num_workers=self._num_workers(config, batch_size))
        device = config._internal.device
        name = os.path.basename(str(dataset.sources[index].get("audio_filepath", "array input")))
        merged: Dict[str, torch.Tensor] = {}
        filled, w = 0, 0
        for batch in tqdm(loader, desc=f"Transcribing {name} in chunks", disable=not config.verbose):
            outputs = self._transcribe_forward((batch[0].to(device), batch[1].to(device)), config)
            lengths = outputs["encoded_len"]
            for row in range(batch[0].shape[0]):
                first, keep = windows[w][2], windows[w][3]
                end = max(first, int(lengths[row]) if keep is None else min(int(lengths[row]), first + keep))
                for key, axis in self._transcribe_frame_outputs.items():
                    if key in outputs:
                        merged[key] = _put(merged.get(key), outputs[key][row].narrow(axis - 1, first, end - first),
                                           axis - 1, filled, length // hop + 2)
                filled += end - first
                w += 1
        outputs = {key: value.narrow(axis - 1, 0, filled).unsqueeze(0)
                   for key, value in merged.items() for axis in [self._transcribe_frame_outputs[key]]}
        outputs["encoded_len"] = torch.tensor([filled], dtype=torch.long, device=device)
        return self._transcribe_output_processing(outputs, config)[0]

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
