"""What the TTS example scripts share: build the Trainer and exp_manager, fit, report where the model went."""

import os

import lightning.pytorch as pl
from omegaconf import OmegaConf

from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager


def train(cfg, model_class):
    logging.info(f"Config:\n{OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)
    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model = model_class(cfg=cfg.model, trainer=trainer)
    model.maybe_init_from_pretrained_checkpoint(cfg)
    trainer.fit(model)
    if trainer.is_global_zero:
        print(f"finished at global_step={trainer.global_step}", flush=True)
        print(f"Log dir: {log_dir}")
        checkpoint = trainer.checkpoint_callback
        nemo_path = getattr(checkpoint, "nemo_path", None) if checkpoint is not None else None
        if nemo_path and os.path.exists(nemo_path):
            print(f".nemo file: {nemo_path}")
        elif cfg.get("save_to"):
            model.save_to(cfg.save_to)
            print(f".nemo file: {cfg.save_to}")
    return model, trainer
