"""EncDecCTCModel: preprocessor -> (SpecAugment) -> conv encoder -> CTC decoder, character vocabulary (spec §2)."""

import copy
from typing import Dict, List, Optional

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from nemo.collections.asr.losses.ctc import CTCLoss
from nemo.collections.asr.metrics.wer import WER
from nemo.collections.asr.models.asr_model import ASRModel, ExportableEncDecModel
from nemo.collections.asr.parts.mixins.audio_data import ASRAudioDataMixin
from nemo.collections.asr.parts.mixins.mixins import ASRModuleMixin
from nemo.collections.asr.parts.mixins.transcription import ASRTranscriptionMixin, TranscribeConfig
from nemo.collections.asr.parts.submodules.ctc_decoding import CTCBPEDecoding, CTCDecoding, CTCDecodingConfig
from nemo.collections.asr.parts.submodules.ngram_lm.nested import ASRNGramLMMixin
from nemo.core.classes.common import typecheck
from nemo.core.neural_types import LabelsType, LengthsType, LogprobsType, NeuralType
from nemo.utils import logging

__all__ = ["EncDecCTCModel"]


class EncDecCTCModel(ASRAudioDataMixin, ASRModel, ExportableEncDecModel, ASRModuleMixin, ASRTranscriptionMixin, ASRNGramLMMixin):
    """CTC speech recogniser over characters (QuartzNet, Jasper, Citrinet-style encoders)."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        self.preprocessor = self.from_config_dict(self._cfg.preprocessor)
        self.encoder = self.from_config_dict(self._cfg.encoder)
        with open_dict(self._cfg):
            if "feat_in" not in self._cfg.decoder or (
                not self._cfg.decoder.feat_in and hasattr(self.encoder, "_feat_out")
            ):
                self._cfg.decoder.feat_in = getattr(self.encoder, "_feat_out", None)
            if "feat_in" not in self._cfg.decoder or not self._cfg.decoder.feat_in:
                raise ValueError("param feat_in of the decoder's config is not set!")
            if self._cfg.decoder.get("num_classes", -1) < 1 and self._cfg.decoder.get("vocabulary") is not None:
                logging.info(f"num_classes of ConvASRDecoder is less than 1: {self._cfg.decoder.num_classes}. "
                             f"Setting it to the vocabulary size: {len(self._cfg.decoder.vocabulary)}.")
                self._cfg.decoder["num_classes"] = len(self._cfg.decoder.vocabulary)
        self.decoder = self.from_config_dict(self._cfg.decoder)
        self.loss = self._make_loss()
        if self._cfg.get("spec_augment") is not None:
            self.spec_augmentation = self.from_config_dict(self._cfg.spec_augment)
        else:
            self.spec_augmentation = None
        self._setup_nested_ngram_lm()
        decoding_cfg = self._cfg.get("decoding")
        if decoding_cfg is None:
            decoding_cfg = OmegaConf.structured(CTCDecodingConfig)
            with open_dict(self._cfg):
                self._cfg.decoding = decoding_cfg
        self.decoding = self._build_decoding(self._cfg.decoding)
        self._wer = self._make_wer()
        self.setup_optimization_flags()
        self._check_interctc()
        self.cfg = self._cfg

    # ------------------------------------------------------------------ helpers
    def _vocabulary_list(self) -> List[str]:
        vocab = self.decoder.vocabulary
        if isinstance(vocab, (ListConfig, DictConfig)):
            vocab = OmegaConf.to_container(vocab)
        return list(vocab)

    def _build_decoding(self, decoding_cfg):
        """The decoding object for this model's vocabulary (characters, or the tokenizer's pieces)."""
        if self._BPE:
            return CTCBPEDecoding(decoding_cfg, tokenizer=self.tokenizer)
        return CTCDecoding(decoding_cfg, vocabulary=self._vocabulary_list())

    def _make_loss(self) -> CTCLoss:
        return CTCLoss(
            num_classes=self.decoder.num_classes_with_blank - 1,
            zero_infinity=True,
            reduction=self._cfg.get("ctc_reduction", "mean_batch"),
        )

    def _make_wer(self) -> WER:
        return WER(
            decoding=self.decoding,
            use_cer=self._cfg.get("use_cer", False),
            dist_sync_on_step=True,
            log_prediction=self._cfg.get("log_prediction", False),
        )

    def _check_interctc(self) -> None:
        interctc = self._cfg.get("interctc")
        if interctc is not None and (interctc.get("loss_weights") or interctc.get("apply_at_layers")):
            raise ValueError("interctc (intermediate CTC losses) is not supported by this implementation; "
                             "set interctc.loss_weights and interctc.apply_at_layers to [].")

    # --------------------------------------------------------------- vocabulary
    def change_vocabulary(self, new_vocabulary: List[str], decoding_cfg: Optional[DictConfig] = None):
        """Replace the output vocabulary: a fresh decoder head, loss, decoding and WER; encoder kept."""
        if new_vocabulary is None or len(new_vocabulary) == 0:
            raise ValueError(f"New vocabulary must be non-empty list of chars. But I got: {new_vocabulary}")
        if list(new_vocabulary) == self._vocabulary_list():
            logging.warning(f"Old {self._vocabulary_list()} and new {list(new_vocabulary)} match. Not changing anything.")
            return
        new_vocabulary = list(new_vocabulary)
        self._replace_output_head(new_vocabulary, decoding_cfg)
        with open_dict(self._cfg):
            for section in ("train_ds", "validation_ds", "test_ds"):
                if self._cfg.get(section) is not None:
                    self._cfg[section]["labels"] = new_vocabulary
        self.cfg = self._cfg
        logging.info(f"Changed decoder to output to {self._vocabulary_list()} vocabulary.")

    def _replace_output_head(self, vocabulary: List[str], decoding_cfg: Optional[DictConfig]) -> None:
        """A fresh decoder for `vocabulary` with its loss, decoding and WER, recorded in the config."""
        decoder_config = copy.deepcopy(self._cfg.decoder)
        with open_dict(decoder_config):
            decoder_config.vocabulary = vocabulary
            decoder_config.num_classes = len(vocabulary)
        del self.decoder
        self.decoder = self.from_config_dict(decoder_config)
        del self.loss
        self.loss = self._make_loss()
        decoding_cfg = self._merged_decoding_cfg(decoding_cfg)
        self.decoding = self._build_decoding(decoding_cfg)
        self._wer = self._make_wer()
        with open_dict(self._cfg):
            self._cfg.decoder = decoder_config
            self._cfg.decoding = decoding_cfg

    def _merged_decoding_cfg(self, decoding_cfg) -> DictConfig:
        if decoding_cfg is None:
            logging.info("No `decoding_cfg` passed when changing decoding strategy, using internal config")
            decoding_cfg = self._cfg.decoding
        base = OmegaConf.structured(CTCDecodingConfig)
        return OmegaConf.merge(base, decoding_cfg)

    def change_decoding_strategy(self, decoding_cfg: Optional[DictConfig] = None, verbose: bool = True):
        """Rebuild decoding (and WER) from `decoding_cfg` merged over the defaults."""
        decoding_cfg = self._merged_decoding_cfg(decoding_cfg)
        self.decoding = self._build_decoding(decoding_cfg)
        self._wer = WER(
            decoding=self.decoding,
            use_cer=self._wer.use_cer,
            log_prediction=self._wer.log_prediction,
            dist_sync_on_step=True,
        )
        self.decoder.temperature = decoding_cfg.get("temperature", 1.0)
        with open_dict(self._cfg):
            self._cfg.decoding = decoding_cfg
        self.cfg = self._cfg
        if verbose:
            logging.info(f"Changed decoding strategy to \n{OmegaConf.to_yaml(decoding_cfg)}")

    # --------------------------------------------------------------- transcribe
    def transcribe(
        self,
        audio,
        batch_size: int = 4,
        return_hypotheses: bool = False,
        num_workers: int = 0,
        channel_selector=None,
        augmentor=None,
        verbose: bool = True,
        timestamps: Optional[bool] = None,
        override_config: Optional[TranscribeConfig] = None,
        **config_kwargs,
    ):
        """Transcribe files, a manifest, arrays or a DataLoader; `timestamps=True` adds char/word/segment times."""
        if override_config is not None:
            timestamps = override_config.timestamps
        if timestamps is not None:
            decoding_cfg = copy.deepcopy(self._cfg.decoding)
            with open_dict(decoding_cfg):
                decoding_cfg.compute_timestamps = bool(timestamps)
                decoding_cfg.preserve_alignments = bool(timestamps)
            if timestamps:
                return_hypotheses = True
                if override_config is not None:
                    override_config.return_hypotheses = True
            self.change_decoding_strategy(decoding_cfg, verbose=False)
        return super().transcribe(
            audio, batch_size=batch_size, return_hypotheses=return_hypotheses, num_workers=num_workers,
            channel_selector=channel_selector, augmentor=augmentor, verbose=verbose, timestamps=timestamps,
            override_config=override_config, **config_kwargs,
        )

    # ------------------------------------------------------------------ forward
    @property
    def input_types(self) -> Optional[Dict[str, NeuralType]]:
        return {**self._audio_input_types(), "sample_id": NeuralType(("B",), LengthsType(), optional=True)}

    @property
    def output_types(self) -> Optional[Dict[str, NeuralType]]:
        return {
            "outputs": NeuralType(("B", "T", "D"), LogprobsType()),
            "encoded_lengths": NeuralType(("B",), LengthsType()),
            "greedy_predictions": NeuralType(("B", "T"), LabelsType()),
        }

    @typecheck()
    def forward(
        self, input_signal=None, input_signal_length=None, processed_signal=None, processed_signal_length=None
    ):
        """Audio (or features) -> (log_probs (B, T', V+1), encoded_len (B,), greedy argmax (B, T'))."""
        encoded, encoded_len = self._encode_audio(input_signal, input_signal_length, processed_signal,
                                                  processed_signal_length)
        log_probs = self.decoder(encoder_output=encoded)
        greedy_predictions = log_probs.argmax(dim=-1, keepdim=False)
        return log_probs, encoded_len, greedy_predictions

    # ----------------------------------------------------------------- training
    def _global_step_tensor(self) -> torch.Tensor:
        step = self.trainer.global_step if self.trainer is not None else 0
        return torch.tensor(step, dtype=torch.float32)

    def _run(self, batch):
        signal, signal_len, transcript, transcript_len = batch[:4]
        log_probs, encoded_len, _ = self.forward(input_signal=signal, input_signal_length=signal_len)
        loss = self.loss(log_probs=log_probs, targets=transcript, input_lengths=encoded_len,
                         target_lengths=transcript_len)
        return loss, log_probs, encoded_len, transcript, transcript_len

    def training_step(self, batch, batch_nb):
        loss, log_probs, encoded_len, transcript, transcript_len = self._run(batch)
        log_every_n_steps = self.trainer.log_every_n_steps if self.trainer is not None else 1
        logs = {"train_loss": loss, "global_step": self._global_step_tensor()}
        if self._optimizer is not None:
            logs["learning_rate"] = torch.tensor(self._optimizer.param_groups[0]["lr"], dtype=torch.float32)
        if (batch_nb + 1) % log_every_n_steps == 0:
            self._wer.update(predictions=log_probs, targets=transcript, targets_lengths=transcript_len,
                             predictions_lengths=encoded_len)
            wer, _, _ = self._wer.compute()
            self._wer.reset()
            logs["training_batch_wer"] = wer
        if self._in_trainer_loop():
            self.log_dict(logs, on_step=True)
        return {"loss": loss}

    def validation_pass(self, batch, batch_idx, dataloader_idx=0) -> Dict[str, torch.Tensor]:
        """Loss and WER counts of one batch under `val_` names."""
        loss, log_probs, encoded_len, transcript, transcript_len = self._run(batch)
        self._wer.update(predictions=log_probs, targets=transcript, targets_lengths=transcript_len,
                         predictions_lengths=encoded_len)
        wer, wer_num, wer_denom = self._wer.compute()
        self._wer.reset()
        if self._in_trainer_loop():
            self.log("global_step", self._global_step_tensor())
        return {"val_loss": loss, "val_wer_num": wer_num, "val_wer_denom": wer_denom, "val_wer": wer}

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """(signal, len, transcript, transcript_len, sample_id) -> [(sample_id, text), ...]."""
        signal, signal_len, _, _, sample_id = batch
        log_probs, encoded_len, _ = self.forward(input_signal=signal, input_signal_length=signal_len)
        hyps = self.decoding.ctc_decoder_predictions_tensor(log_probs, decoder_lengths=encoded_len,
                                                            return_hypotheses=False)
        return list(zip(sample_id.cpu().tolist(), [h.text for h in hyps]))

    @property
    def adapter_module_names(self) -> List[str]:
        return ["", "encoder", "decoder"]
