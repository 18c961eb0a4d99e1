"""ASRWithTTSModel (spec §C7): an ASR model trained on text-only data voiced on the fly by a frozen TTS model.

Both children are NeMo models registered with `register_nemo_submodule`, so the hybrid saves and restores as
one `.nemo` holding both configs (`cfg.asr_model`, `cfg.tts_model`) and both children's artifacts.

    hybrid = ASRWithTTSModel.from_pretrained_models(asr_model_path="asr.nemo", tts_model_path="fastpitch.nemo",
                                                    cfg=OmegaConf.create({"train_ds": {...}, "optim": {...}}))
    trainer.fit(hybrid)
    hybrid.save_asr_model_to("asr_finetuned.nemo")

The TTS model's mel features must match the ASR preprocessor's before normalisation (sample rate, mel
count, window, hop, magnitude power, pre-emphasis); `check_feature_compatibility` reports mismatches.
The TTS collection is imported only when a model is built, so importing ASR models stays cheap.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from nemo.collections.asr.data.text_to_text import (
    AudioTextMixingSampler,
    TextOrAudioDataset,
    TextOrAudioToTextBatch,
    TextToTextBatch,
    TextToTextDataset,
    collate_text_or_audio,
)
from nemo.collections.asr.models.asr_model import ASRModel
from nemo.core.classes.exceptions import NeMoBaseException
from nemo.core.classes.modelPT import _to_dictconfig
from nemo.utils import logging

REQUIRED_KEYS = ("asr_model", "asr_model_path", "asr_model_fuse_bn", "asr_model_type", "tts_model",
                 "tts_model_path", "enhancer_model_path", "enhancer_model")


@dataclass
class TextDataConfig:
    """`train_ds.text_data`: text-only manifest(s) voiced by the TTS model, and how to mix them with audio."""

    manifest_filepath: str = MISSING
    speakers_filepath: Optional[str] = MISSING  # multi-speaker TTS only; ignored for single-speaker FastPitch
    min_words: int = 1
    max_words: int = 45
    tokenizer_workers: int = 1
    asr_tts_sampling_technique: Optional[str] = None
    asr_tts_sampling_temperature: Optional[int] = None
    asr_tts_sampling_probabilities: Optional[List[float]] = None


def _asr_model_classes() -> Dict[str, type]:
    from nemo.collections.asr.models.ctc_bpe_models import EncDecCTCModelBPE
    from nemo.collections.asr.models.ctc_models import EncDecCTCModel

    return {"ctc": EncDecCTCModel, "ctc_bpe": EncDecCTCModelBPE}


class ASRWithTTSModel(ASRModel):
    """Hybrid ASR-TTS model: `asr_model` (trained) and `tts_model` (frozen FastPitch) as nested NeMo models."""

    def setup_before_data(self) -> None:
        """Both children (the data loaders voice text with the TTS model and encode it for the ASR model)."""
        super().setup_before_data()
        missing = [k for k in REQUIRED_KEYS if k not in self._cfg]
        if missing:
            raise NeMoBaseException(f"ASRWithTTSModel config lacks {missing}; all of {list(REQUIRED_KEYS)} must be "
                                    "present (they may be null)")
        if self._cfg.enhancer_model is not None or self._cfg.enhancer_model_path is not None:
            raise NotImplementedError("SpectrogramEnhancerModel is not implemented; set enhancer_model and "
                                      "enhancer_model_path to null")
        self._build_tts()
        self._build_asr()
        self.enhancer_model = None
        self.check_feature_compatibility()

    # ------------------------------------------------------------- children
    def _build_tts(self) -> None:
        from nemo.collections.tts.models import FastPitchModel

        if self._cfg.tts_model is not None:
            tts = FastPitchModel(self._cfg.tts_model)
        elif self._cfg.tts_model_path is not None:
            tts = FastPitchModel.restore_from(self._cfg.tts_model_path, map_location=torch.device("cpu"))
        else:
            raise NeMoBaseException("ASRWithTTSModel needs tts_model (a config) or tts_model_path (a .nemo)")
        self.register_nemo_submodule(name="tts_model", config_field="tts_model", model=tts)
        self.tts_model.freeze()

    def _build_asr(self) -> None:
        classes = _asr_model_classes()
        if self._cfg.asr_model is not None:
            kind = self._cfg.asr_model_type
            if kind not in classes:
                raise NeMoBaseException(f"asr_model_type must be one of {sorted(classes)} to build the ASR model "
                                        f"from a config, got {kind!r} (RNNT models are not available here)")
            asr = classes[kind](self._cfg.asr_model)
        elif self._cfg.asr_model_path is not None:
            asr = ASRModel.restore_from(self._cfg.asr_model_path, map_location=torch.device("cpu"))
            kinds = {cls: name for name, cls in classes.items()}
            with open_dict(self._cfg):
                self._cfg.asr_model_type = next((n for c, n in kinds.items() if type(asr) is c), None)
        else:
            raise NeMoBaseException("ASRWithTTSModel needs asr_model (a config) or asr_model_path (a .nemo)")
        if self._cfg.asr_model_fuse_bn:
            logging.warning("asr_model_fuse_bn applies to Conformer encoders only; ignored")
        self.register_nemo_submodule(name="asr_model", config_field="asr_model", model=asr)

    def check_feature_compatibility(self) -> List[str]:
        """Differences between the TTS mel features and the ASR preprocessor (logged as warnings)."""
        tts = self.tts_model.preprocessor.featurizer
        asr = getattr(self.asr_model.preprocessor, "featurizer", None)
        problems = []
        if asr is None:
            return problems
        for name in ("sample_rate", "nfilt", "win_length", "hop_length", "n_fft", "mag_power", "preemph", "log"):
            a, b = getattr(tts, name, None), getattr(asr, name, None)
            if a != b:
                problems.append(f"{name}: TTS {a} vs ASR {b}")
        if getattr(tts, "nfilt", None) != getattr(asr, "nfilt", None):
            raise NeMoBaseException(f"the TTS model makes {tts.nfilt} mel channels but the ASR model expects "
                                    f"{asr.nfilt}; train the TTS model with the ASR preprocessor's features")
        if problems:
            logging.warning("TTS mel features differ from the ASR preprocessor: " + "; ".join(problems))
        return problems

    @property
    def trainer(self):
        return getattr(self, "_trainer", None)

    @trainer.setter
    def trainer(self, trainer) -> None:
        # Lightning hands the trainer to child LightningModules too; the children would then log from inside the
        # hybrid's steps, which Lightning refuses. The hybrid logs for them.
        super(ASRWithTTSModel, type(self)).trainer.fset(self, trainer)
        for name in ("asr_model", "tts_model"):
            child = self._modules.get(name)
            if child is not None:
                child._trainer = None

    def train(self, mode: bool = True):
        super().train(mode)
        self.tts_model.eval()  # the TTS model stays frozen, in inference mode
        return self

    def setup_optimizer_param_groups(self):
        """Only the ASR model is optimized."""
        self._optimizer_param_groups = [{"params": [p for p in self.asr_model.parameters() if p.requires_grad]}]

    # -------------------------------------------------------------------- API
    @classmethod
    def from_asr_config(cls, asr_cfg: DictConfig, asr_model_type: str, tts_model_path: str,
                        enhancer_model_path: Optional[str] = None, trainer=None) -> "ASRWithTTSModel":
        """A hybrid whose ASR model is built from `asr_cfg` (its data and optim sections move to the hybrid)."""
        asr_cfg = copy.deepcopy(_to_dictconfig(asr_cfg))
        model_cfg = {k: None for k in REQUIRED_KEYS}
        with open_dict(asr_cfg):
            for key in ("train_ds", "validation_ds", "test_ds", "optim"):
                value = asr_cfg.pop(key, None)
                if value is not None:
                    model_cfg[key] = OmegaConf.to_container(value)
        model_cfg.update(asr_model=OmegaConf.to_container(asr_cfg), asr_model_type=asr_model_type,
                         tts_model_path=tts_model_path, enhancer_model_path=enhancer_model_path,
                         asr_model_fuse_bn=False)
        return cls(OmegaConf.create(model_cfg), trainer=trainer)

    @classmethod
    def from_pretrained_models(cls, asr_model_path: str, tts_model_path: str, enhancer_model_path: Optional[str] = None,
                               asr_model_fuse_bn: bool = False, cfg: Optional[DictConfig] = None,
                               trainer=None) -> "ASRWithTTSModel":
        """A hybrid from two `.nemo` files; `cfg` adds train_ds/validation_ds/optim."""
        model_cfg = {k: None for k in REQUIRED_KEYS}
        if cfg is not None:
            model_cfg.update(OmegaConf.to_container(_to_dictconfig(cfg)))
        model_cfg.update(asr_model_path=asr_model_path, tts_model_path=tts_model_path,
                         enhancer_model_path=enhancer_model_path, asr_model_fuse_bn=asr_model_fuse_bn)
        return cls(OmegaConf.create(model_cfg), trainer=trainer)

    def save_asr_model_to(self, save_path: str) -> None:
        """Save only the ASR model (e.g. after fine-tuning) as its own `.nemo`."""
        self.asr_model.save_to(save_path)

    def transcribe(self, audio, batch_size: int = 4, verbose: bool = True, **kwargs):
        return self.asr_model.transcribe(audio, batch_size=batch_size, verbose=verbose, **kwargs)

    def forward(self, *args, **kwargs):
        return self.asr_model(*args, **kwargs)

    # ------------------------------------------------------------------- data
    def _asr_encode(self, text: str) -> List[int]:
        tokenizer = getattr(self.asr_model, "tokenizer", None)
        if tokenizer is not None:
            return list(tokenizer.text_to_ids(text))
        from nemo.collections.common.parts.preprocessing.parsers import make_parser

        if getattr(self, "_asr_parser", None) is None:
            self._asr_parser = make_parser(self.asr_model._vocabulary_list(), name="en", do_normalize=False)
        return list(self._asr_parser(text) or [])

    def _tts_encode(self, text: str) -> List[int]:
        return self.tts_model.parse(text)[0].tolist()

    def setup_training_data(self, train_data_config: Optional[Union[DictConfig, Dict]]):
        """Audio manifest (regular ASR keys) and/or `text_data` (voiced by the TTS model), mixed per sample."""
        if train_data_config is None:
            self._train_dl = None
            return
        cfg = copy.deepcopy(_to_dictconfig(train_data_config) if isinstance(train_data_config, dict)
                            else train_data_config)
        self._update_dataset_config("train", cfg)
        with open_dict(cfg):
            text_cfg = cfg.pop("text_data", None)
        audio_ds = None
        if cfg.get("manifest_filepath"):
            audio_cfg = self.asr_model._prepare_data_config(cfg, shuffle=True)
            audio_ds = self.asr_model._build_dataset(audio_cfg)
        if text_cfg is None:
            self._train_dl = self.asr_model._dataloader_for(audio_ds, audio_cfg) if audio_ds is not None else None
            return
        text_cfg = OmegaConf.merge(OmegaConf.structured(TextDataConfig), text_cfg)
        text_ds = TextToTextDataset(text_cfg.manifest_filepath, self._tts_encode, self._asr_encode,
                                    text_cfg.min_words, text_cfg.max_words)
        mixed = TextOrAudioDataset(audio_ds, text_ds)
        sampler = AudioTextMixingSampler(len(audio_ds) if audio_ds is not None else 0, len(text_ds),
                                         text_cfg.asr_tts_sampling_technique or "round-robin",
                                         text_cfg.asr_tts_sampling_probabilities)
        collate = functools.partial(collate_text_or_audio,
                                    audio_collate=audio_ds.collate_fn if audio_ds is not None else None,
                                    tts_pad_id=self.tts_model.tokenizer.pad,
                                    asr_pad_id=getattr(audio_ds, "pad_id", 0) if audio_ds is not None else 0)
        self._train_dl = torch.utils.data.DataLoader(
            mixed, batch_size=cfg.get("batch_size", 32), sampler=sampler, collate_fn=collate,
            num_workers=cfg.get("num_workers", 0) or 0, drop_last=cfg.get("drop_last", False))

    def setup_validation_data(self, val_data_config):
        self.asr_model.setup_validation_data(val_data_config)
        self._validation_dl = self.asr_model._validation_dl
        self._update_dataset_config("validation", val_data_config)

    def setup_test_data(self, test_data_config):
        self.asr_model.setup_test_data(test_data_config)
        self._test_dl = self.asr_model._test_dl
        self._update_dataset_config("test", test_data_config)

    # --------------------------------------------------------------- training
    @torch.no_grad()
    def _voice(self, batch: TextToTextBatch):
        """Synthesise normalised ASR features (B, n_mels, T) and lengths for a text batch with the frozen TTS."""
        from nemo.collections.asr.parts.preprocessing.features import normalize_batch

        spec, spec_len = self.tts_model.generate_spectrogram_with_lengths(tokens=batch.tts_texts)
        spec_len = spec_len.clamp_min(1)
        normalize = self.asr_model.cfg.preprocessor.get("normalize")
        if normalize:
            spec, _, _ = normalize_batch(spec, spec_len, normalize)
        mask = torch.arange(spec.size(2), device=spec.device)[None, :] < spec_len[:, None]
        return spec * mask.unsqueeze(1), spec_len

    def _features_and_targets(self, batch):
        if isinstance(batch, TextToTextBatch):
            batch = TextOrAudioToTextBatch(audio=None, text=batch)
        if not isinstance(batch, TextOrAudioToTextBatch):  # a plain ASR audio batch
            batch = TextOrAudioToTextBatch(audio=tuple(batch), text=None)
        specs, lens, targets, target_lens = [], [], [], []
        if batch.audio is not None:
            signal, signal_len, transcript, transcript_len = batch.audio[:4]
            spec, spec_len = self.asr_model.preprocessor(input_signal=signal, length=signal_len)
            specs.append(spec)
            lens.append(spec_len)
            targets.append(transcript)
            target_lens.append(transcript_len)
        if batch.text is not None:
            spec, spec_len = self._voice(batch.text)
            specs.append(spec)
            lens.append(spec_len)
            targets.append(batch.text.transcripts)
            target_lens.append(batch.text.transcript_lengths)
        T = max(s.size(2) for s in specs)
        U = max(t.size(1) for t in targets)
        spec = torch.cat([F.pad(s, (0, T - s.size(2))) for s in specs])
        target = torch.cat([F.pad(t, (0, U - t.size(1))) for t in targets])
        return spec, torch.cat(lens), target, torch.cat(target_lens)

    def training_step(self, batch, batch_nb):
        spec, spec_len, target, target_len = self._features_and_targets(batch)
        log_probs, encoded_len, _ = self.asr_model(processed_signal=spec, processed_signal_length=spec_len)
        loss = self.asr_model.loss(log_probs=log_probs, targets=target, input_lengths=encoded_len,
                                   target_lengths=target_len)
        if self.trainer is not None and getattr(self.trainer, "_results", None) is not None:
            self.log("train_loss", loss, on_step=True, prog_bar=True)
        return {"loss": loss}

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        metrics = self.asr_model.validation_pass(batch, batch_idx, dataloader_idx)
        self.validation_step_outputs.append(metrics)
        return metrics

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        logs = self.asr_model.validation_pass(batch, batch_idx, dataloader_idx)
        logs = {k.replace("val_", "test_"): v for k, v in logs.items()}
        self.test_step_outputs.append(logs)
        return logs
