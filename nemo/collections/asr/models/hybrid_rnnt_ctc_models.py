"""EncDecHybridRNNTCTCModel: a transducer with an auxiliary CTC head (`aux_ctc`) on the same encoder;
trained on (1 - w) * transducer loss + w * CTC loss, decoded with either head."""

import copy
from typing import Any, Dict, List, Optional

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.collections.asr.losses.ctc import CTCLoss
from nemo.collections.asr.metrics.wer import WER
from nemo.collections.asr.models.asr_model import ExportableEncDecModel
from nemo.collections.asr.models.rnnt_models import EncDecRNNTModel
from nemo.collections.asr.parts.mixins.transcription import TranscribeConfig
from nemo.collections.asr.parts.submodules.ctc_decoding import CTCBPEDecoding, CTCDecoding, CTCDecodingConfig
from nemo.utils import logging

__all__ = ["EncDecHybridRNNTCTCModel"]


class EncDecHybridRNNTCTCModel(EncDecRNNTModel, ExportableEncDecModel):
    """Transducer + CTC over characters; `change_decoding_strategy(decoder_type="ctc")` switches heads."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        if "aux_ctc" not in self._cfg:
            raise ValueError("The config need to have a section for the CTC decoder named as aux_ctc for Hybrid models.")
        self._fill_ctc_config()
        self.ctc_decoder = self.from_config_dict(self._cfg.aux_ctc.decoder)
        self.ctc_loss_weight = float(self._cfg.aux_ctc.get("ctc_loss_weight", 0.5))
        self.ctc_loss = self._make_ctc_loss()
        if self._cfg.aux_ctc.get("decoding") is None:
            with open_dict(self._cfg.aux_ctc):
                self._cfg.aux_ctc.decoding = OmegaConf.structured(CTCDecodingConfig)
        self.ctc_decoding = self._build_ctc_decoding(self._cfg.aux_ctc.decoding)
        self.ctc_wer = WER(decoding=self.ctc_decoding, use_cer=self._cfg.aux_ctc.get("use_cer", False),
                           dist_sync_on_step=True, log_prediction=self._cfg.get("log_prediction", False))
        self.cur_decoder = "rnnt"
        interctc = self._cfg.get("interctc")
        if interctc is not None and (interctc.get("loss_weights") or interctc.get("apply_at_layers")):
            raise ValueError("interctc (intermediate CTC losses) is not supported by this implementation; "
                             "set interctc.loss_weights and interctc.apply_at_layers to [].")
        self.cfg = self._cfg

    def _fill_ctc_config(self) -> None:
        with open_dict(self._cfg.aux_ctc):
            decoder = self._cfg.aux_ctc.decoder
            if "feat_in" not in decoder or (not decoder.feat_in and hasattr(self.encoder, "_feat_out")):
                decoder.feat_in = getattr(self.encoder, "_feat_out", None)
            if "feat_in" not in decoder or not decoder.feat_in:
                raise ValueError("param feat_in of the decoder's config is not set!")
            if decoder.get("num_classes", -1) < 1 and decoder.get("vocabulary") is not None:
                decoder["num_classes"] = len(decoder.vocabulary)

    def _make_ctc_loss(self) -> CTCLoss:
        return CTCLoss(num_classes=self.ctc_decoder.num_classes_with_blank - 1, zero_infinity=True,
                       reduction=self._cfg.aux_ctc.get("ctc_reduction", "mean_batch"))

    def _build_ctc_decoding(self, decoding_cfg):
        if self._BPE:
            return CTCBPEDecoding(decoding_cfg, tokenizer=self.tokenizer)
        return CTCDecoding(decoding_cfg, vocabulary=list(self.ctc_decoder.vocabulary))

    # ---------------------------------------------------------------- decoding
    def change_decoding_strategy(self, decoding_cfg: Optional[DictConfig] = None, decoder_type: Optional[str] = None,
                                 verbose: bool = True):
        """`decoder_type` "rnnt" (default) rebuilds transducer decoding; "ctc" switches to the CTC head."""
        if decoder_type is None or decoder_type == "rnnt":
            self.cur_decoder = "rnnt"
            return super().change_decoding_strategy(decoding_cfg=decoding_cfg, verbose=verbose)
        if decoder_type != "ctc":
            raise ValueError(f"decoder_type must be 'rnnt' or 'ctc', got {decoder_type!r}")
        if decoding_cfg is None:
            decoding_cfg = self._cfg.aux_ctc.decoding
        base = OmegaConf.create(OmegaConf.to_container(OmegaConf.structured(CTCDecodingConfig)))
        decoding_cfg = OmegaConf.merge(base, decoding_cfg)
        self.ctc_decoding = self._build_ctc_decoding(decoding_cfg)
        self.ctc_wer = WER(decoding=self.ctc_decoding, use_cer=self.ctc_wer.use_cer,
                           log_prediction=self.ctc_wer.log_prediction, dist_sync_on_step=True)
        self.ctc_decoder.temperature = decoding_cfg.get("temperature", 1.0)
        with open_dict(self._cfg.aux_ctc):
            self._cfg.aux_ctc.decoding = decoding_cfg
        self.cfg = self._cfg
        self.cur_decoder = "ctc"
        if verbose:
            logging.info(f"Changed decoding strategy to \n{OmegaConf.to_yaml(self._cfg.aux_ctc.decoding)}")
        return None

    def change_vocabulary(self, new_vocabulary: List[str], decoding_cfg: Optional[DictConfig] = None,
                          ctc_decoding_cfg: Optional[DictConfig] = None):
        """New vocabulary for both heads (transducer and CTC); encoder kept."""
        super().change_vocabulary(new_vocabulary=new_vocabulary, decoding_cfg=decoding_cfg)
        if list(self.ctc_decoder.vocabulary or []) != list(new_vocabulary):
            self._replace_ctc_head(list(new_vocabulary), ctc_decoding_cfg)

    def _replace_ctc_head(self, vocabulary: List[str], ctc_decoding_cfg) -> None:
        decoder_cfg = copy.deepcopy(self._cfg.aux_ctc.decoder)
        with open_dict(decoder_cfg):
            decoder_cfg.vocabulary = vocabulary
            decoder_cfg.num_classes = len(vocabulary)
        del self.ctc_decoder, self.ctc_loss
        self.ctc_decoder = self.from_config_dict(decoder_cfg)
        self.ctc_loss = self._make_ctc_loss()
        base = OmegaConf.create(OmegaConf.to_container(OmegaConf.structured(CTCDecodingConfig)))
        ctc_decoding_cfg = OmegaConf.merge(base, ctc_decoding_cfg if ctc_decoding_cfg is not None
                                           else self._cfg.aux_ctc.decoding)
        self.ctc_decoding = self._build_ctc_decoding(ctc_decoding_cfg)
        self.ctc_wer = WER(decoding=self.ctc_decoding, use_cer=self.ctc_wer.use_cer,
                           log_prediction=self.ctc_wer.log_prediction, dist_sync_on_step=True)
        with open_dict(self._cfg.aux_ctc):
            self._cfg.aux_ctc.decoder = decoder_cfg
            self._cfg.aux_ctc.decoding = ctc_decoding_cfg
        self.cfg = self._cfg

    # -------------------------------------------------------------- transcribe
    def _set_timestamps(self, on: bool) -> bool:
        if self.cur_decoder == "rnnt":
            return super()._set_timestamps(on)
        decoding_cfg = self._cfg.aux_ctc.decoding
        if decoding_cfg.get("compute_timestamps", None) is not on:
            with open_dict(decoding_cfg):
                decoding_cfg.compute_timestamps = on
            self.change_decoding_strategy(decoding_cfg, decoder_type="ctc", verbose=False)
        return on

    def _transcribe_forward(self, batch, config: TranscribeConfig) -> Dict[str, Any]:
        if self.cur_decoder == "rnnt":
            return super()._transcribe_forward(batch, config)
        encoded, encoded_len = self.forward(input_signal=batch[0], input_signal_length=batch[1])
        return {"logits": self.ctc_decoder(encoder_output=encoded), "encoded_len": encoded_len}

    def _transcribe_output_processing(self, outputs: Dict[str, Any], config: TranscribeConfig) -> List[Any]:
        if self.cur_decoder == "rnnt":
            return super()._transcribe_output_processing(outputs, config)
        logits, encoded_len = outputs["logits"], outputs["encoded_len"]
        hyps = self.ctc_decoding.ctc_decoder_predictions_tensor(logits, decoder_lengths=encoded_len,
                                                                return_hypotheses=config.return_hypotheses)
        if config.return_hypotheses:
            logits = logits.float().cpu()
            for i, hyp in enumerate(hyps):
                hyp.y_sequence = logits[i, : int(encoded_len[i])]
                if hyp.alignments is None:
                    hyp.alignments = hyp.y_sequence
        if config.timestamps or self.ctc_decoding.compute_timestamps:
            hyps = self._timestamps_in_seconds(hyps)
        return hyps

    def _transcribe_on_begin(self, config: TranscribeConfig) -> None:
        super()._transcribe_on_begin(config)
        self.ctc_decoder.freeze()

    def _transcribe_on_end(self, config: TranscribeConfig) -> None:
        super()._transcribe_on_end(config)
        self.ctc_decoder.unfreeze(partial=True)

    # ---------------------------------------------------------------- training
    def training_step(self, batch, batch_nb):
        signal, signal_len, transcript, transcript_len = batch[:4]
        encoded, encoded_len = self.forward(input_signal=signal, input_signal_length=signal_len)
        every, step = self._step_info(batch_nb)
        compute_wer = (step + 1) % every == 0
        loss, wer = self._transducer_loss(encoded, encoded_len, transcript, transcript_len, compute_wer)
        logs = {"global_step": torch.tensor(float(step))}
        if self._optimizer is not None:
            logs["learning_rate"] = torch.tensor(self._optimizer.param_groups[0]["lr"], dtype=torch.float32)
        if wer is not None:
            logs["training_batch_wer"] = wer
        if self.ctc_loss_weight > 0:
            log_probs = self.ctc_decoder(encoder_output=encoded)
            ctc_loss = self.ctc_loss(log_probs=log_probs, targets=transcript, input_lengths=encoded_len,
                                     target_lengths=transcript_len)
            logs["train_rnnt_loss"], logs["train_ctc_loss"] = loss, ctc_loss
            loss = (1 - self.ctc_loss_weight) * loss + self.ctc_loss_weight * ctc_loss
            if compute_wer:
                self.ctc_wer.update(predictions=log_probs, targets=transcript, targets_lengths=transcript_len,
                                    predictions_lengths=encoded_len)
                logs["training_batch_wer_ctc"], _, _ = self.ctc_wer.compute()
                self.ctc_wer.reset()
        logs["train_loss"] = loss
        if self._in_trainer_loop():
            self.log_dict(logs)
        if self._optim_normalize_joint_txu:
            self._optim_normalize_txu = [encoded_len.max(), transcript_len.max()]
        return {"loss": loss}

    def _eval_logs(self, encoded, encoded_len, transcript, transcript_len) -> Dict[str, torch.Tensor]:
        """Transducer loss/WER as in the parent, plus the CTC head's loss and WER counts (`*_ctc`)."""
        logs = super()._eval_logs(encoded, encoded_len, transcript, transcript_len)
        log_probs = self.ctc_decoder(encoder_output=encoded)
        if self.compute_eval_loss and "val_loss" in logs:
            ctc_loss = self.ctc_loss(log_probs=log_probs, targets=transcript, input_lengths=encoded_len,
                                     target_lengths=transcript_len)
            logs["val_ctc_loss"], logs["val_rnnt_loss"] = ctc_loss, logs["val_loss"]
            logs["val_loss"] = (1 - self.ctc_loss_weight) * logs["val_loss"] + self.ctc_loss_weight * ctc_loss
        self.ctc_wer.update(predictions=log_probs, targets=transcript, targets_lengths=transcript_len,
                            predictions_lengths=encoded_len)
        wer, num, denom = self.ctc_wer.compute()
        self.ctc_wer.reset()
        logs.update({"val_wer_num_ctc": num, "val_wer_denom_ctc": denom, "val_wer_ctc": wer})
        return logs

    def _epoch_end_with_ctc(self, outputs, prefix: str):
        result = self._epoch_end(outputs, prefix)
        if outputs and self.ctc_loss_weight > 0 and f"{prefix}_wer_num_ctc" in outputs[0]:
            num = torch.stack([x[f"{prefix}_wer_num_ctc"] for x in outputs]).sum()
            denom = torch.stack([x[f"{prefix}_wer_denom_ctc"] for x in outputs]).sum()
            result["log"][f"{prefix}_wer_ctc"] = num.float() / denom
        return result

    def multi_validation_epoch_end(self, outputs, dataloader_idx: int = 0):
        return self._epoch_end_with_ctc(outputs, "val")

    def multi_test_epoch_end(self, outputs, dataloader_idx: int = 0):
        return self._epoch_end_with_ctc(outputs, "test")

    # ------------------------------------------------------------------ export
    def list_export_subnets(self) -> List[str]:
        """Transducer: encoder and decoder+joint graphs; CTC: one encoder+CTC-head graph."""
        return ["encoder", "decoder_joint"] if self.cur_decoder == "rnnt" else ["self"]

    @property
    def output_module(self):
        """The CTC head in CTC mode: the one-graph export is then encoder + CTC head."""
        return self.decoder if self.cur_decoder == "rnnt" else self.ctc_decoder

    @property
    def adapter_module_names(self) -> List[str]:
        return ["", "encoder", "decoder", "joint", "ctc_decoder"]
