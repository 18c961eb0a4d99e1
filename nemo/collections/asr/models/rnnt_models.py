"""EncDecRNNTModel: preprocessor -> (SpecAugment) -> encoder -> prediction net + joint, trained with the
RNN-T or TDT loss, decoded greedily (per utterance or batched) over a character vocabulary."""

import copy
from typing import Any, Dict, List, Optional

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from nemo.collections.asr.metrics.wer import WER
from nemo.collections.asr.models.asr_model import ASRModel
from nemo.collections.asr.modules.rnnt import RNNTDecoderJoint
from nemo.collections.asr.parts.mixins.audio_data import ASRAudioDataMixin
from nemo.collections.asr.parts.mixins.transcription import ASRTranscriptionMixin, TranscribeConfig
from nemo.collections.asr.parts.submodules.ngram_lm.nested import ASRNGramLMMixin
from nemo.collections.asr.parts.submodules.rnnt_decoding import (
    RNNTBPEDecoding,
    RNNTDecoding,
    merged_decoding_config,
)
from nemo.collections.asr.parts.utils.timestamp_utils import process_timestamp_outputs
from nemo.core.classes.common import typecheck
from nemo.core.classes.exportable import Exportable
from nemo.core.neural_types import AcousticEncodedRepresentation, LengthsType, NeuralType
from nemo.utils import logging

__all__ = ["EncDecRNNTModel"]


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


class EncDecRNNTModel(ASRAudioDataMixin, ASRModel, ASRTranscriptionMixin, Exportable, ASRNGramLMMixin):
    """Transducer (RNN-T / TDT) speech recogniser; `cfg.labels` is the vocabulary, blank is last."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        if self._cfg.get("decoding") is None:
            with open_dict(self._cfg):
                self._cfg.decoding = merged_decoding_config(None, bpe=self._BPE)
        self._fill_head_config()
        self.preprocessor = self.from_config_dict(self._cfg.preprocessor)
        self.encoder = self.from_config_dict(self._cfg.encoder)
        self.decoder = self.from_config_dict(self._cfg.decoder)
        self.joint = self.from_config_dict(self._cfg.joint)
        self.loss = self._make_loss()
        self.spec_augmentation = (
            self.from_config_dict(self._cfg.spec_augment) if self._cfg.get("spec_augment") is not None else None
        )
        with open_dict(self._cfg):
            self._cfg.decoding = self.set_decoding_type_according_to_loss(self._cfg.decoding)
        self._setup_nested_ngram_lm()
        self.decoding = self._build_decoding(self._cfg.decoding)
        self.wer = WER(decoding=self.decoding, batch_dim_index=0, use_cer=self._cfg.get("use_cer", False),
                       log_prediction=self._cfg.get("log_prediction", True), dist_sync_on_step=True)
        self.compute_eval_loss = bool(self._cfg.get("compute_eval_loss", True))
        self._attach_loss_and_wer_to_joint()
        self.setup_optim_normalization()
        self.setup_optimization_flags()
        self.cfg = self._cfg

    # ------------------------------------------------------------------ config
    def _fill_head_config(self) -> None:
        """Vocabulary size into decoder/joint, encoder/prediction widths into the joint (from model_defaults)."""
        labels = self._cfg.get("labels")
        if labels is None:
            raise ValueError("the model config needs `labels` (the output vocabulary) for an EncDecRNNTModel")
        with open_dict(self._cfg):
            self._cfg.decoder.vocab_size = len(labels)
            self._cfg.joint.num_classes = len(labels)
            self._cfg.joint.vocabulary = list(_plain(labels))
            defaults = self._cfg.get("model_defaults") or {}
            if defaults.get("enc_hidden") is not None:
                self._cfg.joint.jointnet.encoder_hidden = defaults.enc_hidden
            if defaults.get("pred_hidden") is not None:
                self._cfg.joint.jointnet.pred_hidden = defaults.pred_hidden

    def extract_rnnt_loss_cfg(self, cfg: Optional[DictConfig]):
        """(loss_name, `<loss_name>_kwargs`) from `cfg.loss`; `default` resolves to the default loss."""
        from nemo.collections.asr.losses.rnnt import resolve_rnnt_default_loss_name

        cfg = cfg if cfg is not None else DictConfig({})
        loss_name = cfg.get("loss_name", "default")
        if loss_name == "default":
            loss_name = resolve_rnnt_default_loss_name()
        return loss_name, cfg.get(f"{loss_name}_kwargs", None)

    def _is_tdt_loss(self, loss_name: str) -> bool:
        return loss_name in ("tdt", "tdt_pytorch")

    def set_decoding_type_according_to_loss(self, decoding_cfg):
        """TDT losses carry the durations the decoder needs: copy them into `decoding.durations`."""
        loss_name, loss_kwargs = self.extract_rnnt_loss_cfg(self._cfg.get("loss", None))
        if self._is_tdt_loss(loss_name):
            if loss_kwargs is None or loss_kwargs.get("durations") is None:
                raise ValueError(f"loss.{loss_name}_kwargs.durations is required for a TDT model")
            with open_dict(decoding_cfg):
                decoding_cfg.durations = loss_kwargs.durations
        elif loss_name == "multiblank_rnnt":
            raise ValueError("multi-blank RNN-T models are not supported by this implementation")
        return decoding_cfg

    def _make_loss(self):
        from nemo.collections.asr.losses.rnnt import RNNTLoss

        loss_name, loss_kwargs = self.extract_rnnt_loss_cfg(self._cfg.get("loss", None))
        num_classes = self.joint.num_classes_with_blank - 1
        if self._is_tdt_loss(loss_name):
            num_classes -= self.joint.num_extra_outputs
        return RNNTLoss(num_classes=num_classes, loss_name=loss_name, loss_kwargs=loss_kwargs,
                        reduction=self._cfg.get("rnnt_reduction", "mean_batch"))

    def _build_decoding(self, decoding_cfg):
        """Greedy/beam decoding over `labels`, or over the tokenizer's pieces for subword models."""
        if self._BPE:
            return RNNTBPEDecoding(decoding_cfg=decoding_cfg, decoder=self.decoder, joint=self.joint,
                                   tokenizer=self.tokenizer)
        return RNNTDecoding(decoding_cfg=decoding_cfg, decoder=self.decoder, joint=self.joint,
                            vocabulary=self.joint.vocabulary)

    def _attach_loss_and_wer_to_joint(self) -> None:
        fused = self.decoding.joint_fused_batch_size
        if self.joint.fuse_loss_wer or (fused is not None and fused > 0):
            self.joint.set_loss(self.loss)
            self.joint.set_wer(self.wer)

    def setup_optim_normalization(self) -> None:
        """Read variational noise and gradient normalisation switches (applied after backward)."""
        noise = self._cfg.get("variational_noise") or {}
        self._optim_variational_noise_std = noise.get("std", 0)
        self._optim_variational_noise_start = noise.get("start_step", 0)
        self._optim_normalize_joint_txu = self._cfg.get("normalize_joint_txu", False)
        self._optim_normalize_txu = None
        self._optim_normalize_encoder_norm = self._cfg.get("normalize_encoder_norm", False)
        self._optim_normalize_decoder_norm = self._cfg.get("normalize_decoder_norm", False)
        self._optim_normalize_joint_norm = self._cfg.get("normalize_joint_norm", False)

    # ---------------------------------------------------------------- decoding
    def change_decoding_strategy(self, decoding_cfg: Optional[DictConfig] = None, verbose: bool = True):
        """Rebuild decoding (and WER) from `decoding_cfg` merged over the defaults; TDT durations kept."""
        if decoding_cfg is None:
            logging.info("No `decoding_cfg` passed when changing decoding strategy, using internal config")
            decoding_cfg = self._cfg.decoding
        decoding_cfg = self.set_decoding_type_according_to_loss(merged_decoding_config(decoding_cfg, bpe=self._BPE))
        self.decoding = self._build_decoding(decoding_cfg)
        self.wer = WER(decoding=self.decoding, batch_dim_index=self.wer.batch_dim_index, use_cer=self.wer.use_cer,
                       log_prediction=self.wer.log_prediction, dist_sync_on_step=True)
        self._attach_loss_and_wer_to_joint()
        self.joint.temperature = decoding_cfg.get("temperature", 1.0)
        with open_dict(self._cfg):
            self._cfg.decoding = decoding_cfg
        self.cfg = self._cfg
        if verbose:
            logging.info(f"Changed decoding strategy to \n{OmegaConf.to_yaml(self._cfg.decoding)}")

    def change_vocabulary(self, new_vocabulary: List[str], decoding_cfg: Optional[DictConfig] = None):
        """New output vocabulary: fresh prediction net, joint, loss and decoding; encoder kept."""
        if new_vocabulary is None or len(new_vocabulary) == 0:
            raise ValueError(f"New vocabulary must be non-empty list of chars. But I got: {new_vocabulary}")
        new_vocabulary = list(new_vocabulary)
        if list(self.joint.vocabulary or []) == new_vocabulary:
            logging.warning(f"Old {self.joint.vocabulary} and new {new_vocabulary} match. Not changing anything.")
            return
        self._replace_heads(new_vocabulary, decoding_cfg)
        with open_dict(self._cfg):
            self._cfg.labels = new_vocabulary
            for key in ("train_ds", "validation_ds", "test_ds"):
                if self._cfg.get(key) is not None:
                    self._cfg[key]["labels"] = new_vocabulary
        self.cfg = self._cfg
        logging.info(f"Changed decoder to output to {self.joint.vocabulary} vocabulary.")

    def _replace_heads(self, vocabulary: List[str], decoding_cfg) -> None:
        """Rebuild decoder, joint, loss, decoding and WER for `vocabulary`, recorded in the config."""
        joint_cfg = copy.deepcopy(self._cfg.joint)
        decoder_cfg = copy.deepcopy(self._cfg.decoder)
        with open_dict(joint_cfg), open_dict(decoder_cfg):
            joint_cfg.vocabulary = list(vocabulary)
            joint_cfg.num_classes = len(vocabulary)
            decoder_cfg.vocab_size = len(vocabulary)
        del self.joint, self.decoder, self.loss
        self.decoder = self.from_config_dict(decoder_cfg)
        self.joint = self.from_config_dict(joint_cfg)
        with open_dict(self._cfg):
            self._cfg.joint = joint_cfg
            self._cfg.decoder = decoder_cfg
        self.loss = self._make_loss()
        decoding_cfg = self.set_decoding_type_according_to_loss(
            merged_decoding_config(decoding_cfg if decoding_cfg is not None else self._cfg.decoding, bpe=self._BPE))
        self.decoding = self._build_decoding(decoding_cfg)
        self.wer = WER(decoding=self.decoding, batch_dim_index=self.wer.batch_dim_index, use_cer=self.wer.use_cer,
                       log_prediction=self.wer.log_prediction, dist_sync_on_step=True)
        self._attach_loss_and_wer_to_joint()
        with open_dict(self._cfg):
            self._cfg.decoding = decoding_cfg

    # -------------------------------------------------------------- transcribe
    def transcribe(
        self,
        audio,
        batch_size: int = 4,
        return_hypotheses: bool = False,
        partial_hypothesis: Optional[List[Any]] = None,
        num_workers: int = 0,
        channel_selector=None,
        augmentor=None,
        verbose: bool = True,
        timestamps: Optional[bool] = None,
        override_config: Optional[TranscribeConfig] = None,
        use_lhotse: bool = True,
        **config_kwargs,
    ):
        """Transcribe files, a manifest, arrays or a DataLoader; `timestamps=True` adds char/word/segment times
        (and keeps `decoding.compute_timestamps` on, as NeMo does). `use_lhotse` is accepted for NeMo's
        signature; audio is always read in memory here."""
        if override_config is not None and override_config.timestamps is not None:
            timestamps = override_config.timestamps
        if timestamps is not None:
            return_hypotheses = self._set_timestamps(bool(timestamps)) or return_hypotheses
            if override_config is not None and timestamps:
                override_config.return_hypotheses = True
        return ASRTranscriptionMixin.transcribe(
            self, audio, batch_size=batch_size, return_hypotheses=return_hypotheses, num_workers=num_workers,
            channel_selector=channel_selector, augmentor=augmentor, verbose=verbose, timestamps=timestamps,
            override_config=override_config, partial_hypothesis=partial_hypothesis, **config_kwargs,
        )

    def _set_timestamps(self, on: bool) -> bool:
        """Switch `decoding.compute_timestamps`; returns whether hypotheses must be returned."""
        if self._cfg.decoding.get("compute_timestamps", None) is not on:
            with open_dict(self._cfg.decoding):
                self._cfg.decoding.compute_timestamps = on
            self.change_decoding_strategy(self._cfg.decoding, verbose=False)
        return on

    def _transcribe_forward(self, batch, config: TranscribeConfig) -> Dict[str, Any]:
        encoded, encoded_len = self.forward(input_signal=batch[0], input_signal_length=batch[1])
        return {"encoded": encoded, "encoded_len": encoded_len}

    def _transcribe_output_processing(self, outputs: Dict[str, Any], config: TranscribeConfig) -> List[Any]:
        hyps = self.decoding.rnnt_decoder_predictions_tensor(
            outputs["encoded"], outputs["encoded_len"], return_hypotheses=config.return_hypotheses,
            partial_hypotheses=config.partial_hypothesis,
        )
        if config.timestamps or self.decoding.compute_timestamps:
            hyps = self._timestamps_in_seconds(hyps)
        return hyps

    def _timestamps_in_seconds(self, hyps):
        """Frame offsets of char/word/segment timestamps as seconds (window stride x encoder subsampling)."""
        return process_timestamp_outputs(hyps, getattr(self.encoder, "subsampling_factor", 1),
                                         float(self._cfg.preprocessor.get("window_stride", 0.01)))

    def _transcribe_on_begin(self, config: TranscribeConfig) -> None:
        super()._transcribe_on_begin(config)
        self.joint.freeze()

    def _transcribe_on_end(self, config: TranscribeConfig) -> None:
        super()._transcribe_on_end(config)
        self.joint.unfreeze(partial=True)

    # ----------------------------------------------------------------- forward
    @property
    def input_types(self) -> Optional[Dict[str, NeuralType]]:
        return self._audio_input_types()

    @property
    def output_types(self) -> Optional[Dict[str, NeuralType]]:
        return {
            "outputs": NeuralType(("B", "D", "T"), AcousticEncodedRepresentation()),
            "encoded_lengths": NeuralType(("B",), LengthsType()),
        }

    @typecheck()
    def forward(self, input_signal=None, input_signal_length=None, processed_signal=None,
                processed_signal_length=None):
        """Audio (or features) -> the acoustic encoder's (encoded (B, D, T'), encoded_len (B,))."""
        return self._encode_audio(input_signal, input_signal_length, processed_signal, processed_signal_length)

    # ---------------------------------------------------------------- training
    def _step_info(self, batch_nb: int):
        if self.trainer is not None:
            return self.trainer.log_every_n_steps, self.trainer.global_step
        return 1, batch_nb

    def _transducer_loss(self, encoded, encoded_len, transcript, transcript_len, compute_wer: bool):
        """(loss, wer or None) for one batch, through the fused joint when it is configured so."""
        decoder, target_length, _ = self.decoder(targets=transcript, target_length=transcript_len)
        if self.joint.fuse_loss_wer:
            loss, wer, _, _ = self.joint(encoder_outputs=encoded, decoder_outputs=decoder, encoder_lengths=encoded_len,
                                         transcripts=transcript, transcript_lengths=transcript_len,
                                         compute_wer=compute_wer)
            return loss, wer
        joint = self.joint(encoder_outputs=encoded, decoder_outputs=decoder)
        loss = self.loss(log_probs=joint, targets=transcript, input_lengths=encoded_len, target_lengths=target_length)
        wer = None
        if compute_wer:
            self.wer.update(predictions=encoded, predictions_lengths=encoded_len, targets=transcript,
                            targets_lengths=transcript_len)
            _, scores, words = self.wer.compute()
            self.wer.reset()
            wer = scores.float() / words
        return loss, wer

    def training_step(self, batch, batch_nb):
        signal, signal_len, transcript, transcript_len = batch[:4]
        encoded, encoded_len = self.forward(input_signal=signal, input_signal_length=signal_len)
        every, step = self._step_info(batch_nb)
        compute_wer = (step + 1) % every == 0
        loss, wer = self._transducer_loss(encoded, encoded_len, transcript, transcript_len, compute_wer)
        logs = {"train_loss": loss, "global_step": torch.tensor(float(step))}
        if self._optimizer is not None:
            logs["learning_rate"] = torch.tensor(self._optimizer.param_groups[0]["lr"], dtype=torch.float32)
        if wer is not None:
            logs["training_batch_wer"] = wer
        if self._in_trainer_loop():
            self.log_dict(logs)
        if self._optim_normalize_joint_txu:
            self._optim_normalize_txu = [encoded_len.max(), transcript_len.max()]
        return {"loss": loss}

    def validation_pass(self, batch, batch_idx, dataloader_idx=0) -> Dict[str, torch.Tensor]:
        """val_loss (when compute_eval_loss) and the batch's WER counts from greedy decoding."""
        signal, signal_len, transcript, transcript_len = batch[:4]
        encoded, encoded_len = self.forward(input_signal=signal, input_signal_length=signal_len)
        logs = self._eval_logs(encoded, encoded_len, transcript, transcript_len)
        if self._in_trainer_loop():
            self.log("global_step", torch.tensor(float(self._step_info(batch_idx)[1])))
        return logs

    def _eval_logs(self, encoded, encoded_len, transcript, transcript_len) -> Dict[str, torch.Tensor]:
        logs: Dict[str, torch.Tensor] = {}
        if self.joint.fuse_loss_wer:
            decoded = None
            if self.compute_eval_loss:
                decoded, _, _ = self.decoder(targets=transcript, target_length=transcript_len)
            loss, wer, num, denom = self.joint(encoder_outputs=encoded, decoder_outputs=decoded,
                                               encoder_lengths=encoded_len, transcripts=transcript,
                                               transcript_lengths=transcript_len, compute_wer=True)
            if loss is not None:
                logs["val_loss"] = loss
        else:
            if self.compute_eval_loss:
                logs["val_loss"], _ = self._transducer_loss(encoded, encoded_len, transcript, transcript_len, False)
            self.wer.update(predictions=encoded, predictions_lengths=encoded_len, targets=transcript,
                            targets_lengths=transcript_len)
            wer, num, denom = self.wer.compute()
            self.wer.reset()
        logs.update({"val_wer_num": num, "val_wer_denom": denom, "val_wer": wer})
        return logs

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """(signal, len, transcript, transcript_len, sample_id) -> [(sample_id, Hypothesis), ...]."""
        signal, signal_len, _, _, sample_id = batch
        encoded, encoded_len = self.forward(input_signal=signal, input_signal_length=signal_len)
        hyps = self.decoding.rnnt_decoder_predictions_tensor(encoder_output=encoded, encoded_lengths=encoded_len,
                                                             return_hypotheses=True)
        ids = sample_id.cpu().tolist() if isinstance(sample_id, torch.Tensor) else list(sample_id)
        return list(zip(ids, hyps))

    def on_after_backward(self) -> None:
        super().on_after_backward()
        if self._optim_variational_noise_std > 0 and self.global_step >= self._optim_variational_noise_start:
            for p in self.decoder.parameters():
                if p.grad is not None:
                    p.grad.add_(torch.randn_like(p.grad) * self._optim_variational_noise_std)
        if self._optim_normalize_joint_txu and self._optim_normalize_txu is not None:
            t_max, u_max = self._optim_normalize_txu
            for p in self.encoder.parameters():
                if p.grad is not None:
                    p.grad.div_(u_max)
            for p in self.decoder.parameters():
                if p.grad is not None:
                    p.grad.div_(t_max)
        for flag, module in ((self._optim_normalize_encoder_norm, self.encoder),
                             (self._optim_normalize_decoder_norm, self.decoder),
                             (self._optim_normalize_joint_norm, self.joint)):
            if flag:
                for p in module.parameters():
                    if p.grad is not None:
                        p.grad.div_(p.grad.norm())

    # ------------------------------------------------------------------ export
    def list_export_subnets(self) -> List[str]:
        return ["encoder", "decoder_joint"]

    @property
    def decoder_joint(self) -> RNNTDecoderJoint:
        """Decoder + joint as one exportable module."""
        return RNNTDecoderJoint(self.decoder, self.joint)

    @property
    def adapter_module_names(self) -> List[str]:
        return ["", "encoder", "decoder", "joint"]
