"""Tacotron2Model (spec §C4): autoregressive text -> mel with location-sensitive attention.

Needs no supplementary data: training batches are (audio, audio_len, tokens, token_len) or a TTSDataset dict.
Keys follow NeMo, including the misspelled featurizer attribute `audio_to_melspec_precessor`.
"""

from typing import Dict, List

import torch
from omegaconf import DictConfig

from nemo.collections.tts.losses.tts_losses import Tacotron2Loss
from nemo.collections.tts.models.base import SpectrogramGenerator, append_step_output, in_trainer_loop, mean_of
from nemo.core.classes.common import safe_instantiate


class Tacotron2Model(SpectrogramGenerator):
    """Tacotron 2: text embedding -> encoder -> attention decoder (teacher forcing in training) -> postnet."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg
        self.pad_value = cfg.preprocessor.get("pad_value", -11.52)
        self.audio_to_melspec_precessor = safe_instantiate(cfg.preprocessor)
        self.text_embedding = torch.nn.Embedding(len(self.tokenizer.tokens), cfg.encoder.encoder_embedding_dim)
        self.encoder = safe_instantiate(cfg.encoder)
        self.decoder = safe_instantiate(cfg.decoder)
        self.postnet = safe_instantiate(cfg.postnet)
        self.loss = Tacotron2Loss()
        self.calculate_loss = True

    def forward(self, *, tokens, token_len, audio=None, audio_len=None, teacher_forcing=None):
        """Training (or `teacher_forcing=True`): (dec mel, postnet mel, gate, target, target_len, alignments).
        Inference: (dec mel, postnet mel, gate, alignments, predicted lengths)."""
        teacher_forcing = self.training if teacher_forcing is None else teacher_forcing
        spec_target = spec_target_len = None
        if audio is not None:
            spec_target, spec_target_len = self.audio_to_melspec_precessor(audio, audio_len)
        elif teacher_forcing:
            raise ValueError("Tacotron2Model needs audio for teacher forcing (training)")
        memory = self.encoder(self.text_embedding(tokens).transpose(1, 2), token_len)
        if teacher_forcing:
            spec_dec, gate, align = self.decoder(memory, spec_target, memory_lengths=token_len)
        else:
            spec_dec, gate, align, pred_len = self.decoder.infer(memory, memory_lengths=token_len)
        spec_post = self.postnet(spec_dec)
        if teacher_forcing:
            return spec_dec, spec_post, gate, spec_target, spec_target_len, align
        return spec_dec, spec_post, gate, align, pred_len

    def generate_spectrogram(self, *, tokens: torch.Tensor) -> torch.Tensor:
        """Free-running generation; in batches frames beyond each predicted length are `pad_value`."""
        was_training = self.training
        self.eval()
        token_len = torch.full((tokens.size(0),), tokens.size(1), dtype=torch.long, device=tokens.device)
        if tokens.size(0) > 1:
            token_len = (tokens != self.tokenizer.pad).sum(1)
        with torch.no_grad():
            _, spec, _, _, lengths = self(tokens=tokens, token_len=token_len, teacher_forcing=False)
        self.train(was_training)
        if tokens.size(0) > 1:
            mask = torch.arange(spec.size(2), device=spec.device)[None, :] >= lengths[:, None]
            spec = spec.masked_fill(mask[:, None], self.pad_value)
        return spec

    @staticmethod
    def _unpack(batch):
        if isinstance(batch, dict):
            return batch["audio"], batch["audio_lens"], batch["text"], batch["text_lens"]
        return batch[0], batch[1], batch[2], batch[3]

    def _step(self, batch):
        audio, audio_len, tokens, token_len = self._unpack(batch)
        spec_dec, spec_post, gate, spec_target, spec_target_len, align = self(
            tokens=tokens, token_len=token_len, audio=audio, audio_len=audio_len, teacher_forcing=True)
        loss, _ = self.loss(spec_pred_dec=spec_dec, spec_pred_postnet=spec_post, gate_pred=gate,
                            spec_target=spec_target, spec_target_len=spec_target_len, pad_value=self.pad_value)
        return loss, spec_target, spec_post, align

    def training_step(self, batch, batch_idx):
        loss, *_ = self._step(batch)
        if in_trainer_loop(self):
            self.log("loss", loss, on_step=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        loss, target, pred, align = self._step(batch)
        out = {"val_loss": loss.detach()}
        append_step_output(self, out, dataloader_idx)
        if batch_idx == 0:
            self._last_val_mels = (target[0].detach().cpu(), pred[0].detach().cpu(), align[0].detach().cpu())
        return out

    def multi_validation_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        val_loss = mean_of(outputs, "val_loss")
        return {"val_loss": val_loss, "log": {"val_loss": val_loss}}
