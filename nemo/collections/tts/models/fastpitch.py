"""FastPitchModel (spec §C5): non-autoregressive text -> mel with duration and pitch predictors and a learned
alignment, so no external aligner or duration files are needed.

State-dict layout follows NeMo: `fastpitch.encoder.*`, `fastpitch.decoder.*`, `fastpitch.duration_predictor.*`,
`fastpitch.pitch_predictor.*`, `fastpitch.pitch_emb.*`, `fastpitch.proj.*`, `preprocessor.featurizer.{window,fb}`,
and the aligner twice (`aligner.*` and `fastpitch.aligner.*`).
"""

from typing import Dict, List

import torch
from omegaconf import DictConfig, open_dict

from nemo.collections.tts.losses.tts_losses import BinLoss, DurationLoss, ForwardSumLoss, MelLoss, PitchLoss
from nemo.collections.tts.models.base import SpectrogramGenerator, append_step_output, in_trainer_loop, mean_of
from nemo.collections.tts.modules.fastpitch import FastPitchModule
from nemo.collections.tts.parts.utils import fit_length
from nemo.core.classes.common import safe_instantiate
from nemo.core.classes.exportable import Exportable
from nemo.core.neural_types import (
    LengthsType, MelSpectrogramType, NeuralType, RegressionValuesType, TokenDurationType, TokenIndex,
)


class FastPitchModel(SpectrogramGenerator, Exportable):
    """FastPitch with a RAD-TTS-style learned aligner (`learn_alignment: true`)."""

    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg
        self.learn_alignment = bool(cfg.get("learn_alignment", False))
        self.bin_loss_warmup_epochs = cfg.get("bin_loss_warmup_epochs", 100)
        loss_scale = 0.1 if self.learn_alignment else 1.0
        self.aligner = None
        if self.learn_alignment:
            self.aligner = safe_instantiate(cfg.alignment_module)
            self.forward_sum_loss_fn = ForwardSumLoss()
            self.bin_loss_fn = BinLoss()
        self.preprocessor = safe_instantiate(cfg.preprocessor)
        with open_dict(cfg):  # NeMo injects these from the tokenizer
            cfg.input_fft["n_embed"] = len(self.tokenizer.tokens)
            cfg.input_fft["padding_idx"] = self.tokenizer.pad
        input_fft = safe_instantiate(cfg.input_fft)
        output_fft = safe_instantiate(cfg.output_fft)
        duration_predictor = safe_instantiate(cfg.duration_predictor)
        pitch_predictor = safe_instantiate(cfg.pitch_predictor)
        energy_predictor = safe_instantiate(cfg.energy_predictor) if cfg.get("energy_predictor") else None
        self.fastpitch = FastPitchModule(
            input_fft, output_fft, duration_predictor, pitch_predictor, energy_predictor, self.aligner, None,
            cfg.get("n_speakers", 1), cfg.symbols_embedding_dim, cfg.pitch_embedding_kernel_size,
            cfg.get("energy_embedding_kernel_size", 3), cfg.n_mel_channels, cfg.get("min_token_duration", 0),
            cfg.get("max_token_duration", 75), cfg.get("use_log_energy", True),
        )
        self.mel_loss_fn = MelLoss()
        self.duration_loss_fn = DurationLoss(loss_scale=loss_scale)
        self.pitch_loss_fn = PitchLoss(loss_scale=loss_scale)
        self.cfg = cfg

    # ----------------------------------------------------------------- forward
    def forward(self, *, text, durs=None, pitch=None, energy=None, speaker=None, pace=1.0, spec=None,
                attn_prior=None, mel_lens=None, input_lens=None, reference_spec=None, reference_spec_lens=None):
        return self.fastpitch(text=text, durs=durs, pitch=pitch, energy=energy, speaker=speaker, pace=pace,
                              spec=spec, attn_prior=attn_prior, mel_lens=mel_lens, input_lens=input_lens)

    def generate_spectrogram(self, tokens: torch.Tensor, speaker=None, pace: float = 1.0, reference_spec=None,
                             reference_spec_lens=None) -> torch.Tensor:
        """Token ids (B, T_text) -> log-mel (B, n_mels, T); frames beyond an item's length are zero."""
        return self.generate_spectrogram_with_lengths(tokens, speaker=speaker, pace=pace)[0]

    def generate_spectrogram_with_lengths(self, tokens: torch.Tensor, speaker=None, pace: float = 1.0):
        """Like `generate_spectrogram` but also returns the frame counts (B,). Training mode is restored after."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                spect, lens, _, _ = self.fastpitch.infer(text=tokens, speaker=speaker, pace=pace)
        finally:
            self.train(was_training)
        return spect, lens

    # ---------------------------------------------------------------- training
    def _losses(self, batch: Dict[str, torch.Tensor]):
        audio, audio_lens, text, text_lens = batch["audio"], batch["audio_lens"], batch["text"], batch["text_lens"]
        mels, spec_len = self.preprocessor(input_signal=audio, length=audio_lens)
        T = mels.size(2)
        pitch = fit_length(batch["pitch"], T) if "pitch" in batch else None
        attn_prior = batch.get("align_prior_matrix")
        if attn_prior is not None:
            attn_prior = fit_length(attn_prior.transpose(1, 2), T).transpose(1, 2)
        durs = batch.get("durations")
        out = self(text=text, durs=durs, pitch=pitch, speaker=batch.get("speaker"), pace=1.0,
                   spec=mels if self.learn_alignment else None, attn_prior=attn_prior, mel_lens=spec_len,
                   input_lens=text_lens)
        (mels_pred, _, _, log_durs_pred, pitch_pred, attn_soft, attn_logprob, attn_hard, attn_hard_dur,
         pitch_tgt, _, _) = out
        if self.learn_alignment:
            durs = attn_hard_dur
        losses = {
            "mel_loss": self.mel_loss_fn(spect_predicted=mels_pred, spect_tgt=mels, spect_len=spec_len),
            "dur_loss": self.duration_loss_fn(log_durs_predicted=log_durs_pred, durs_tgt=durs, len=text_lens),
        }
        if pitch_tgt is not None:
            losses["pitch_loss"] = self.pitch_loss_fn(pitch_predicted=pitch_pred, pitch_tgt=pitch_tgt, len=text_lens)
        if self.learn_alignment:
            losses["ctc_loss"] = self.forward_sum_loss_fn(attn_logprob=attn_logprob, in_lens=text_lens,
                                                          out_lens=spec_len)
            epoch = self.current_epoch if self.trainer is not None else 0
            weight = min(epoch / self.bin_loss_warmup_epochs, 1.0) if self.bin_loss_warmup_epochs else 1.0
            losses["bin_loss"] = self.bin_loss_fn(hard_attention=attn_hard, soft_attention=attn_soft) * weight
        losses["loss"] = sum(losses.values())
        return losses, (mels, mels_pred, attn_soft, attn_hard)

    def training_step(self, batch, batch_idx):
        losses, _ = self._losses(batch)
        if in_trainer_loop(self):
            self.log_dict({f"t_{k}": v for k, v in losses.items() if k != "loss"}, on_step=True)
            self.log("t_loss", losses["loss"], on_step=True, prog_bar=True)
        return losses["loss"]

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        losses, (mels, mels_pred, _, _) = self._losses(batch)
        out = {f"val_{k}" if k != "loss" else "val_loss": v.detach() for k, v in losses.items()}
        append_step_output(self, out, dataloader_idx)
        if batch_idx == 0:
            self._last_val_mels = (mels[0].detach().cpu(), mels_pred[0].detach().cpu())
        return out

    def multi_validation_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        logs = {k: mean_of(outputs, k) for k in outputs[0]}
        return {"val_loss": logs["val_loss"], "log": logs}

    # ------------------------------------------------------------------ export
    @property
    def vocab(self):
        """NeMo's name for FastPitch's text tokenizer."""
        return self.tokenizer

    @property
    def input_types(self):
        return {"text": NeuralType(("B", "T"), TokenIndex())}

    @property
    def output_types(self):
        return {
            "spect": NeuralType(("B", "D", "T"), MelSpectrogramType()),
            "num_frames": NeuralType(("B",), LengthsType()),
            "durs_predicted": NeuralType(("B", "T"), TokenDurationType()),
            "pitch_predicted": NeuralType(("B", "T"), RegressionValuesType()),
        }

    def input_example(self, max_batch: int = 1, max_dim: int = 44):
        ids = torch.randint(0, self.tokenizer.pad, (max_batch, max_dim), device=self.device)
        return ({"text": ids},)

    def forward_for_export(self, text):
        return self.fastpitch.infer(text=text)
