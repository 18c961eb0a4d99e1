"""Train the tiny regression model: the whole NeMo runtime (Hydra config, Trainer, exp_manager) in one script.

    python examples/core/train_tiny_model.py                        # conf/tiny_model.yaml
    python examples/core/train_tiny_model.py trainer.max_epochs=10 model.optim.lr=0.003
    python examples/core/train_tiny_model.py +trainer.fast_dev_run=true ~model.test_ds
    python examples/core/train_tiny_model.py --config-path=conf/variants --config-name=wide
    python examples/core/train_tiny_model.py trainer.devices=2 trainer.strategy=ddp     # two CPU processes
    python examples/core/train_tiny_model.py exp_manager.resume_if_exists=true           # continue a run
"""

import os
import sys

from omegaconf import OmegaConf

from nemo.core.config import hydra_runner
from nemo.utils import logging


@hydra_runner(config_path="conf", config_name="tiny_model")
def main(cfg):
    # Heavy imports happen here, so `--help`, `--cfg job` and config errors answer at once.
    import lightning.pytorch as pl

    from nemo.utils.exp_manager import exp_manager

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tiny_model import TinyRegressionModel

    logging.info(f"Config:\n{OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)

    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model = TinyRegressionModel(cfg=cfg.model, trainer=trainer)

    trainer.fit(model)
    if cfg.model.get("test_ds") is not None and not trainer.fast_dev_run:
        trainer.test(model)

    print(f"rank {trainer.global_rank}: finished at global_step={trainer.global_step}", flush=True)
    if trainer.is_global_zero:
        checkpoint = trainer.checkpoint_callback
        print(f"Log dir: {log_dir}")
        if checkpoint is not None:
            print(f"Best checkpoint: {checkpoint.best_model_path or '-'}")
            nemo_path = getattr(checkpoint, "nemo_path", None)
            if nemo_path and os.path.exists(nemo_path):
                print(f".nemo file: {nemo_path}")


if __name__ == "__main__":
    main()
