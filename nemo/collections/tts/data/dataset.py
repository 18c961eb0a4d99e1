"""TTS datasets over NeMo's JSON-lines manifests (spec §C3).

`TTSDataset` yields audio, token ids and, per `sup_data_types`, a beta-binomial alignment prior
("align_prior_matrix") and frame-level pitch ("pitch"). Pitch is expensive (pYIN), so it is
computed once per utterance and cached as `.pt` files under `sup_data_path/pitch/`, keyed by the
audio path and the pitch settings; later epochs and later runs read the cache. The mel itself is
computed by the model's featurizer (the ASR collection's `FilterbankFeatures`), the same one the
vocoders use, so generator targets and vocoder inputs agree.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from nemo.collections.common.parts.preprocessing.resample import resample
from nemo.collections.common.parts.preprocessing.silence import trim_silence
from nemo.utils import logging

SUP_DATA_TYPES = ("align_prior_matrix", "pitch")


def read_tts_manifest(manifest_filepath: Union[str, Sequence[str]], base_dir: Optional[str] = None) -> List[dict]:
    """Entries of one or more manifests (comma-separated or a list); relative audio paths resolved
    against `base_dir` or the manifest's folder."""
    paths = manifest_filepath.split(",") if isinstance(manifest_filepath, str) else list(manifest_filepath)
    entries = []
    for path in paths:
        path = path.strip()
        root = base_dir or os.path.dirname(os.path.abspath(path))
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not a JSON object ({e})") from e
                if "audio_filepath" not in item:
                    raise ValueError(f"{path}:{n}: missing 'audio_filepath'")
                audio = os.path.expanduser(item["audio_filepath"])
                item["audio_filepath"] = audio if os.path.isabs(audio) else os.path.join(root, audio)
                entries.append(item)
    return entries


def load_audio(path: str, sample_rate: int, trim: bool = False, offset: float = 0.0,
               duration: Optional[float] = None) -> np.ndarray:
    """Mono float32 samples at `sample_rate` (resampled with the shared resampler if needed)."""
    import soundfile as sf

    with sf.SoundFile(path) as f:
        sr = f.samplerate
        if offset:
            f.seek(int(offset * sr))
        audio = f.read(frames=int(duration * sr) if duration else -1, dtype="float32", always_2d=True)[:, 0]
    if sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
    if trim:
        audio = trim_silence(audio, 60.0, 2048, 512)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _filter(entries: List[dict], min_duration, max_duration, ignore_file) -> List[dict]:
    ignored = set()
    if ignore_file:
        with open(ignore_file, encoding="utf-8") as f:
            ignored = {line.strip() for line in f if line.strip()}
    kept, dropped = [], 0
    for e in entries:
        d = e.get("duration")
        if (min_duration is not None or max_duration is not None) and d is None:
            raise ValueError(f"{e['audio_filepath']}: 'duration' is required when min/max_duration filtering is set")
        if (min_duration is not None and d < min_duration) or (max_duration is not None and d > max_duration) \
                or os.path.splitext(os.path.basename(e["audio_filepath"]))[0] in ignored:
            dropped += 1
            continue
        kept.append(e)
    if dropped:
        logging.info(f"TTS dataset: dropped {dropped} of {len(entries)} utterances by duration/ignore list")
    if not kept:
        raise ValueError("TTS dataset: no utterance left after filtering")
    return kept


class TTSDataset(torch.utils.data.Dataset):
    """Text-to-speech training data: one dict per utterance, batched by `collate_fn` into a dict of tensors.

    Batch keys: `audio (B, L)`, `audio_lens`, `text (B, T_text)` (padded with the tokenizer's pad id),
    `text_lens`, and optionally `align_prior_matrix (B, T_mel, T_text)`, `pitch (B, T_mel)`, `pitch_lens`,
    `speaker (B,)`.
    """

    def __init__(
        self,
        manifest_filepath: Union[str, Sequence[str]],
        sample_rate: int,
        text_tokenizer: Callable = None,
        tokens: Optional[List[str]] = None,
        text_normalizer: Optional[Callable] = None,
        text_normalizer_call_kwargs: Optional[Dict] = None,
        sup_data_path: Optional[str] = None,
        sup_data_types: Optional[Sequence[str]] = None,
        n_fft: int = 1024,
        win_length: Optional[int] = None,
        hop_length: Optional[int] = None,
        window: str = "hann",
        n_mels: int = 80,
        lowfreq: int = 0,
        highfreq: Optional[int] = None,
        max_duration: Optional[float] = None,
        min_duration: Optional[float] = None,
        ignore_file: Optional[str] = None,
        trim: bool = False,
        pitch_fmin: float = 65.40639132514966,
        pitch_fmax: float = 2093.004522404789,
        pitch_mean: Optional[float] = None,
        pitch_std: Optional[float] = None,
        pitch_norm: bool = False,
        pitch_method: str = "pyin",
        use_beta_binomial_interpolator: bool = False,
        base_data_dir: Optional[str] = None,
        **kwargs,
    ):
        super().__init__()
        if text_tokenizer is None:
            raise ValueError("TTSDataset needs a text_tokenizer (the model passes its own)")
        if kwargs:
            logging.info(f"TTSDataset: ignoring options {sorted(kwargs)}")
        self.text_tokenizer = text_tokenizer
        self.pad_id = getattr(text_tokenizer, "pad", 0)
        self.text_normalizer = text_normalizer
        self.text_normalizer_call_kwargs = dict(text_normalizer_call_kwargs or {})
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length or n_fft // 4
        self.win_length = win_length or n_fft
        self.trim = trim
        self.pitch_fmin, self.pitch_fmax = pitch_fmin, pitch_fmax
        self.pitch_mean, self.pitch_std, self.pitch_norm = pitch_mean, pitch_std, pitch_norm
        self.pitch_method = pitch_method
        if pitch_norm and (pitch_mean is None or pitch_std is None):
            raise ValueError("pitch_norm=true needs pitch_mean and pitch_std (see extract_sup_data / pitch_stats)")
        self.sup_data_types = list(sup_data_types or [])
        unknown = [t for t in self.sup_data_types if t not in SUP_DATA_TYPES]
        if unknown:
            raise ValueError(f"unsupported sup_data_types {unknown}; supported: {list(SUP_DATA_TYPES)}")
        if "pitch" in self.sup_data_types and not sup_data_path:
            raise ValueError("sup_data_path is required to cache pitch (sup_data_types includes 'pitch')")
        self.sup_data_path = sup_data_path
        self.use_beta_binomial_interpolator = use_beta_binomial_interpolator
        entries = _filter(read_tts_manifest(manifest_filepath, base_data_dir), min_duration, max_duration, ignore_file)
        self.data = []
        for e in entries:
            text = e.get("normalized_text") or e.get("text", "")
            if "normalized_text" not in e and self.text_normalizer is not None:
                text = self.text_normalizer(text, **self.text_normalizer_call_kwargs)
            e = dict(e, normalized_text=text, text_tokens=self.text_tokenizer.encode(text))
            self.data.append(e)

    def __len__(self) -> int:
        return len(self.data)

    # ------------------------------------------------------------------ cache
    def _cache_path(self, kind: str, audio_path: str) -> str:
        settings = f"{self.sample_rate}-{self.hop_length}-{self.n_fft}-{self.pitch_fmin:.3f}-{self.pitch_fmax:.3f}" \
                   f"-{self.pitch_method}-{self.trim}"
        key = hashlib.sha1(f"{os.path.abspath(audio_path)}|{settings}".encode()).hexdigest()[:16]
        stem = os.path.splitext(os.path.basename(audio_path))[0]
        return os.path.join(self.sup_data_path, kind, f"{stem}_{key}.pt")

    def get_pitch(self, audio_path: str, audio: np.ndarray) -> torch.Tensor:
        """Frame-level pitch in Hz, from the on-disk cache or computed and stored (atomically)."""
        from nemo.collections.tts.parts.utils import extract_pitch

        path = self._cache_path("pitch", audio_path)
        if os.path.exists(path):
            return torch.load(path, weights_only=True)
        n_frames = len(audio) // self.hop_length + 1
        pitch = torch.from_numpy(extract_pitch(audio, self.sample_rate, self.hop_length, self.n_fft, self.pitch_fmin,
                                               self.pitch_fmax, self.pitch_method, n_frames))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        torch.save(pitch, tmp)
        os.replace(tmp, path)
        return pitch

    def __getitem__(self, index: int) -> dict:
        from nemo.collections.tts.parts.utils import beta_binomial_prior_distribution

        e = self.data[index]
        audio = load_audio(e["audio_filepath"], self.sample_rate, self.trim, e.get("offset", 0.0), e.get("duration")
                           if e.get("offset") else None)
        item = {"audio": torch.from_numpy(audio), "text": torch.tensor(e["text_tokens"], dtype=torch.long)}
        n_frames = len(audio) // self.hop_length + 1
        if "align_prior_matrix" in self.sup_data_types:
            prior = beta_binomial_prior_distribution(len(e["text_tokens"]), n_frames)
            item["align_prior_matrix"] = torch.from_numpy(prior)
        if "pitch" in self.sup_data_types:
            pitch = self.get_pitch(e["audio_filepath"], audio)
            if self.pitch_norm:
                pitch = torch.where(pitch != 0, (pitch - self.pitch_mean) / self.pitch_std, pitch)
            item["pitch"] = pitch
        if "speaker" in e and isinstance(e["speaker"], int):
            item["speaker"] = torch.tensor(e["speaker"])
        return item

    def collate_fn(self, batch: List[dict]) -> Dict[str, torch.Tensor]:
        out = {}
        audio_lens = torch.tensor([len(b["audio"]) for b in batch])
        text_lens = torch.tensor([len(b["text"]) for b in batch])
        out["audio"] = torch.zeros(len(batch), int(audio_lens.max()))
        out["text"] = torch.full((len(batch), int(text_lens.max())), self.pad_id, dtype=torch.long)
        for i, b in enumerate(batch):
            out["audio"][i, : len(b["audio"])] = b["audio"]
            out["text"][i, : len(b["text"])] = b["text"]
        out["audio_lens"], out["text_lens"] = audio_lens, text_lens
        if "align_prior_matrix" in batch[0]:
            T_mel = max(b["align_prior_matrix"].shape[0] for b in batch)
            prior = torch.zeros(len(batch), T_mel, int(text_lens.max()))
            for i, b in enumerate(batch):
                m = b["align_prior_matrix"]
                prior[i, : m.shape[0], : m.shape[1]] = m
            out["align_prior_matrix"] = prior
        if "pitch" in batch[0]:
            pitch_lens = torch.tensor([len(b["pitch"]) for b in batch])
            pitch = torch.zeros(len(batch), int(pitch_lens.max()))
            for i, b in enumerate(batch):
                pitch[i, : len(b["pitch"])] = b["pitch"]
            out["pitch"], out["pitch_lens"] = pitch, pitch_lens
        if "speaker" in batch[0]:
            out["speaker"] = torch.stack([b["speaker"] for b in batch])
        return out

    def pitch_statistics(self) -> Dict[str, float]:
        """Mean and std of voiced pitch over the dataset (computing and caching pitch as needed)."""
        values = []
        for e in self.data:
            audio = load_audio(e["audio_filepath"], self.sample_rate, self.trim)
            p = self.get_pitch(e["audio_filepath"], audio)
            values.append(p[p != 0])
        allp = torch.cat(values)
        return {"pitch_mean": float(allp.mean()), "pitch_std": float(allp.std())}


class VocoderDataset(torch.utils.data.Dataset):
    """Audio for vocoder training: random `n_segments`-sample crops (zero-padded if shorter), or whole
    clips when `n_segments` is None. Batches are `(audio (B, L), audio_lens (B,))`."""

    def __init__(
        self,
        manifest_filepath: Union[str, Sequence[str]],
        sample_rate: int,
        n_segments: Optional[int] = None,
        max_duration: Optional[float] = None,
        min_duration: Optional[float] = None,
        ignore_file: Optional[str] = None,
        trim: bool = False,
        load_precomputed_mel: bool = False,
        hop_length: Optional[int] = None,
        seed: Optional[int] = None,
        **kwargs,
    ):
        super().__init__()
        if load_precomputed_mel:
            raise NotImplementedError("load_precomputed_mel (fine-tuning on generated mels) is not implemented yet")
        self.data = _filter(read_tts_manifest(manifest_filepath), min_duration, max_duration, ignore_file)
        self.sample_rate, self.n_segments, self.trim = sample_rate, n_segments, trim
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        audio = load_audio(self.data[index]["audio_filepath"], self.sample_rate, self.trim)
        if self.n_segments is not None:
            if len(audio) >= self.n_segments:
                start = int(self._rng.integers(0, len(audio) - self.n_segments + 1))
                audio = audio[start : start + self.n_segments]
            else:
                audio = np.pad(audio, (0, self.n_segments - len(audio)))
        return torch.from_numpy(audio)

    def collate_fn(self, batch: List[torch.Tensor]):
        lens = torch.tensor([len(b) for b in batch])
        audio = torch.zeros(len(batch), int(lens.max()))
        for i, b in enumerate(batch):
            audio[i, : len(b)] = b
        return audio, lens
