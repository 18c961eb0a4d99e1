"""Train or fine-tune a subword transducer (RNN-T or TDT; Parakeet's EncDecRNNTBPEModel) from a YAML recipe.

    python examples/asr/asr_transducer/speech_to_text_rnnt_bpe.py \\
        --config-path=../conf/fastconformer --config-name=fast-conformer_tdt_bpe \\
        model.tokenizer.dir=<dir with tokenizer.model> \\
        model.train_ds.manifest_filepath=train_manifest.json \\
        model.validation_ds.manifest_filepath=dev_manifest.json \\
        trainer.devices=1 trainer.accelerator=cpu trainer.max_epochs=50
    ... +init_from_nemo_model=parakeet.nemo                          # fine-tune from a .nemo (same vocabulary)
    ... +init_from_nemo_model.m.path=parakeet.nemo '+init_from_nemo_model.m.exclude=[decoder,joint]'
                                                                     # new tokenizer: keep the encoder only

Every `log_every_n_steps` the training loss is printed (`step N: train_loss=...`), after every validation the
dev WER. Config-path lookup is that of examples/asr/asr_ctc/speech_to_text_ctc.py.
"""

import os
import sys

import lightning.pytorch as pl
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecRNNTBPEModel
from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "asr_ctc"))
from speech_to_text_ctc import _resolve_config_path  # noqa: E402  (the CTC script's config-path rule)


class PrintProgress(pl.Callback):
    """Print the training loss at logging steps and the dev WER (and loss, when computed) after validation."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if trainer.is_global_zero and outputs is not None and step % max(1, trainer.log_every_n_steps) == 0:
            print(f"step {step}: train_loss={float(outputs['loss']):.4f}", flush=True)

    def on_validation_end(self, trainer, pl_module):
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or not trainer.is_global_zero or "val_wer" not in metrics:
            return
        loss = f" val_loss={float(metrics['val_loss']):.3f}" if "val_loss" in metrics else ""
        print(f"epoch {trainer.current_epoch} step {trainer.global_step}:{loss} "
              f"val_wer={100 * float(metrics['val_wer']):.2f}%", flush=True)


def run(cfg, model_cls):
    """Build trainer, logs and model from `cfg`, load any init_from_* weights, fit, test, report the .nemo."""
    logging.info(f"Hydra config: {OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)
    trainer = pl.Trainer(**cfg.trainer, callbacks=[PrintProgress()])
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model = model_cls(cfg=cfg.model, trainer=trainer)
    model.maybe_init_from_pretrained_checkpoint(cfg)
    trainer.fit(model)
    if cfg.model.get("test_ds") is not None and cfg.model.test_ds.get("manifest_filepath"):
        trainer.test(model)
    nemo_path = getattr(trainer.checkpoint_callback, "nemo_path", None)
    if trainer.is_global_zero and log_dir is not None:
        print(f"Log dir: {log_dir}")
        if nemo_path and os.path.exists(nemo_path):
            print(f".nemo file: {nemo_path}")
    return model


@hydra_runner(config_path="../conf/fastconformer", config_name="fast-conformer_tdt_bpe")
def main(cfg):
    run(cfg, EncDecRNNTBPEModel)


if __name__ == "__main__":
    sys.argv = _resolve_config_path(sys.argv)
    main()
