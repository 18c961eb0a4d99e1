"""HifiGanModel (spec §C6): GAN vocoder, generator + multi-period and multi-scale discriminators.

Trained with manual optimization (one AdamW for the generator, one for both discriminators) built from
`cfg.optim` (`_target_` or `name`), each with the `cfg.optim.sched` schedule stepped per optimizer step.
"""

import copy
import itertools
from typing import Dict, List

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.collections.tts.losses.tts_losses import DiscriminatorLoss, FeatureMatchingLoss, GeneratorLoss
from nemo.collections.tts.models.base import Vocoder, append_step_output, in_trainer_loop, make_dataloader, mean_of
from nemo.collections.tts.modules.hifigan_modules import MultiPeriodDiscriminator, MultiScaleDiscriminator
from nemo.core.classes.common import safe_instantiate
from nemo.core.classes.exportable import Exportable
from nemo.core.neural_types import AudioSignal, MelSpectrogramType, NeuralType


class HifiGanModel(Vocoder, Exportable):
    def __init__(self, cfg: DictConfig, trainer=None):
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg
        self.audio_to_melspec_precessor = safe_instantiate(cfg.preprocessor)
        trg_cfg = copy.deepcopy(cfg.preprocessor)
        with open_dict(trg_cfg):  # the L1 target covers the full band and lets gradients through
            trg_cfg.highfreq = None
            trg_cfg.use_grads = True
        self.trg_melspec_fn = safe_instantiate(trg_cfg)
        self.generator = safe_instantiate(cfg.generator)
        # `discriminator_width` (not in NeMo, default 1.0 = the published sizes) shrinks both discriminators
        # for tests and CPU experiments; the key layout is unchanged.
        width = cfg.get("discriminator_width", 1.0)
        self.mpd = MultiPeriodDiscriminator(width=width)
        self.msd = MultiScaleDiscriminator(width=width)
        self.feature_loss = FeatureMatchingLoss()
        self.discriminator_loss = DiscriminatorLoss()
        self.generator_loss = GeneratorLoss()
        self.l1_factor = cfg.get("l1_loss_factor", 45)
        self.automatic_optimization = False

    # -------------------------------------------------------------------- data
    def _loader(self, cfg, shuffle_default: bool):
        if cfg is None or "dataset" not in cfg or "dataloader_params" not in cfg:
            raise ValueError("HifiGanModel data configs need `dataset` and `dataloader_params` sections")
        return make_dataloader(safe_instantiate(cfg.dataset), cfg.dataloader_params, shuffle_default)

    def setup_training_data(self, cfg):
        self._train_dl = self._loader(cfg, True)

    def setup_validation_data(self, cfg):
        self._validation_dl = self._loader(cfg, False)

    # --------------------------------------------------------------- inference
    def forward(self, *, spec):
        return self.generator(spec)

    def convert_spectrogram_to_audio(self, spec: torch.Tensor, **kwargs) -> torch.Tensor:
        """Log-mel (B, n_mels, T) -> audio (B, T * hop)."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            with torch.no_grad():
                return self.generator(spec).squeeze(1)
        finally:
            self.generator.train(was_training)

    # -------------------------------------------------------------- optimizers
    def configure_optimizers(self):
        from nemo.core.optim.lr_scheduler import prepare_lr_scheduler
        from nemo.core.optim.setup import build_optimizer

        optim_cfg = OmegaConf.to_container(self._cfg.optim, resolve=True)
        sched_cfg = optim_cfg.pop("sched", None)
        optim_g = build_optimizer([{"params": list(self.generator.parameters())}], optim_cfg)
        optim_d = build_optimizer([{"params": list(itertools.chain(self.msd.parameters(), self.mpd.parameters()))}],
                                  optim_cfg)
        if sched_cfg is None:
            return [optim_g, optim_d]
        max_steps = self._cfg.get("max_steps") or (self.trainer.max_steps if self.trainer is not None else None)
        if max_steps is None or max_steps < 0:
            raise ValueError("HifiGanModel with optim.sched needs model.max_steps (or trainer.max_steps)")
        sched_cfg.setdefault("max_steps", max_steps)
        sched_g = prepare_lr_scheduler(optim_g, dict(sched_cfg))
        sched_d = prepare_lr_scheduler(optim_d, dict(sched_cfg))
        return [optim_g, optim_d], [sched_g, sched_d]

    # ---------------------------------------------------------------- training
    def training_step(self, batch, batch_idx):
        audio, audio_len = batch
        optim_g, optim_d = self.optimizers()
        audio_mel, _ = self.audio_to_melspec_precessor(audio, audio_len)
        audio_pred = self.generator(audio_mel)
        length = min(audio.size(-1), audio_pred.size(-1))  # equal when segments are a multiple of the hop
        audio, audio_pred = audio[:, None, :length], audio_pred[..., :length]
        audio_len = audio_len.clamp_max(length)
        audio_trg_mel, _ = self.trg_melspec_fn(audio.squeeze(1), audio_len)
        audio_pred_mel, _ = self.trg_melspec_fn(audio_pred.squeeze(1), audio_len)

        optim_d.zero_grad()
        mpd_real, mpd_gen, _, _ = self.mpd(audio, audio_pred.detach())
        loss_disc_mpd, _, _ = self.discriminator_loss(mpd_real, mpd_gen)
        msd_real, msd_gen, _, _ = self.msd(audio, audio_pred.detach())
        loss_disc_msd, _, _ = self.discriminator_loss(msd_real, msd_gen)
        loss_d = loss_disc_msd + loss_disc_mpd
        self.manual_backward(loss_d)
        optim_d.step()

        optim_g.zero_grad()
        loss_mel = F.l1_loss(audio_pred_mel, audio_trg_mel)
        _, mpd_gen, fmap_mpd_real, fmap_mpd_gen = self.mpd(audio, audio_pred)
        _, msd_gen, fmap_msd_real, fmap_msd_gen = self.msd(audio, audio_pred)
        loss_fm_mpd = self.feature_loss(fmap_mpd_real, fmap_mpd_gen)
        loss_fm_msd = self.feature_loss(fmap_msd_real, fmap_msd_gen)
        loss_gen_mpd, _ = self.generator_loss(mpd_gen)
        loss_gen_msd, _ = self.generator_loss(msd_gen)
        loss_g = loss_gen_msd + loss_gen_mpd + loss_fm_msd + loss_fm_mpd + loss_mel * self.l1_factor
        self.manual_backward(loss_g)
        optim_g.step()
        schedulers = self.lr_schedulers()
        for s in (schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []):
            s.step()
        metrics = {"g_loss_fm_mpd": loss_fm_mpd, "g_loss_fm_msd": loss_fm_msd, "g_loss_gen_mpd": loss_gen_mpd,
                   "g_loss_gen_msd": loss_gen_msd, "g_loss": loss_g, "d_loss_mpd": loss_disc_mpd,
                   "d_loss_msd": loss_disc_msd, "d_loss": loss_d,
                   "global_step": torch.tensor(float(self.global_step)),
                   "lr": torch.tensor(optim_g.param_groups[0]["lr"])}
        if in_trainer_loop(self):
            self.log_dict(metrics, on_step=True, sync_dist=True)
            self.log("g_l1_loss", loss_mel, prog_bar=True, on_step=True)
        self._last_train = {k: float(v) for k, v in metrics.items()} | {"g_l1_loss": float(loss_mel)}

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        audio, audio_len = batch
        audio_mel, mel_len = self.audio_to_melspec_precessor(audio, audio_len)
        audio_pred = self.generator(audio_mel).squeeze(1)[:, : audio.size(1)]
        audio_pred = F.pad(audio_pred, (0, audio.size(1) - audio_pred.size(1)))
        pred_mel, _ = self.audio_to_melspec_precessor(audio_pred, audio_len)
        out = {"val_loss": F.l1_loss(audio_mel, pred_mel).detach()}
        append_step_output(self, out, dataloader_idx)
        return out

    def multi_validation_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        val_loss = mean_of(outputs, "val_loss")
        return {"val_loss": val_loss, "log": {"val_loss": val_loss}}

    # ------------------------------------------------------------------ export
    @property
    def input_types(self):
        return {"spec": NeuralType(("B", "D", "T"), MelSpectrogramType())}

    @property
    def output_types(self):
        return {"audio": NeuralType(("B", "T"), AudioSignal(self._cfg.get("sample_rate")))}

    def input_example(self, max_batch: int = 1, max_dim: int = 64):
        n_mels = self.generator.conv_pre.in_channels
        return ({"spec": torch.randn(max_batch, n_mels, max_dim, device=self.device)},)

    def forward_for_export(self, spec):
        return self.generator(spec).squeeze(1)
