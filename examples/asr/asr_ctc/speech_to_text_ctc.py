"""Train a character CTC speech recogniser (QuartzNet, Jasper) from a YAML recipe and NeMo manifests.

    python examples/asr/asr_ctc/speech_to_text_ctc.py \\
        --config-path=conf/quartznet --config-name=quartznet_15x5 \\
        model.train_ds.manifest_filepath=train_manifest.json \\
        model.validation_ds.manifest_filepath=dev_manifest.json \\
        trainer.devices=1 trainer.accelerator=cpu trainer.max_epochs=50
    ... ~model.test_ds +trainer.fast_dev_run=true                     # one batch of each, nothing saved
    ... model.optim=adam model.optim.lr=.0004 model.optim.betas=[.8,.5]  # another optimizer
    ... +init_from_nemo_model=pretrained.nemo                        # fine-tune: start from its weights

Without --config-name the small default recipe conf/config.yaml is used. A relative --config-path is looked up
beside this script (Hydra's rule), then in the current directory, then in examples/asr/ (so `conf/quartznet`
works as in NeMo's documentation). With a test_ds manifest the model is tested after training.
"""

import os
import sys

import lightning.pytorch as pl
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModel
from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager

HERE = os.path.dirname(os.path.abspath(__file__))
ASR_EXAMPLES = os.path.dirname(HERE)


def _resolve_config_path(argv):
    """Rewrite a relative --config-path/-cp to an absolute folder: script dir, then cwd, then examples/asr/."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg.startswith("--config-path=") or arg.startswith("-cp="):
            flag, path = arg.split("=", 1)
        elif arg in ("--config-path", "-cp") and i + 1 < len(out):
            flag, path = None, out[i + 1]
        else:
            continue
        if not os.path.isabs(path):
            for base in (HERE, os.getcwd(), ASR_EXAMPLES):
                if os.path.isdir(os.path.join(base, path)):
                    path = os.path.abspath(os.path.join(base, path))
                    break
        if flag is None:
            out[i + 1] = path
        else:
            out[i] = f"{flag}={path}"
    return out


class PrintWER(pl.Callback):
    """Print the dev loss and WER after every validation run (they also go to the loggers)."""

    def on_validation_end(self, trainer, pl_module):
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or not trainer.is_global_zero or "val_wer" not in metrics:
            return
        print(f"epoch {trainer.current_epoch} step {trainer.global_step}: val_loss={float(metrics['val_loss']):.3f} "
              f"val_wer={100 * float(metrics['val_wer']):.2f}%", flush=True)


@hydra_runner(config_path="../conf", config_name="config")
def main(cfg):
    logging.info(f"Hydra config: {OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)

    trainer = pl.Trainer(**cfg.trainer, callbacks=[PrintWER()])
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    asr_model = EncDecCTCModel(cfg=cfg.model, trainer=trainer)
    asr_model.maybe_init_from_pretrained_checkpoint(cfg)  # +init_from_nemo_model=..., etc.

    trainer.fit(asr_model)

    if cfg.model.get("test_ds") is not None and cfg.model.test_ds.get("manifest_filepath"):
        trainer.test(asr_model)

    nemo_path = getattr(trainer.checkpoint_callback, "nemo_path", None)
    if trainer.is_global_zero and log_dir is not None:
        print(f"Log dir: {log_dir}")
        if nemo_path and os.path.exists(nemo_path):
            print(f".nemo file: {nemo_path}")


if __name__ == "__main__":
    sys.argv = _resolve_config_path(sys.argv)
    main()
