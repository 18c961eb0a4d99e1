"""Train HifiGan with the NeMo runtime: Hydra config, Lightning Trainer, exp_manager.

    python examples/tts/hifigan.py train_dataset=train.json validation_datasets=dev.json trainer.max_epochs=10
    python examples/tts/hifigan.py --config-path=conf --config-name=hifigan ... +trainer.fast_dev_run=true
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from train_common import train  # noqa: E402

from nemo.core.config import hydra_runner  # noqa: E402


@hydra_runner(config_path="conf", config_name="hifigan")
def main(cfg):
    from nemo.collections.tts.models import HifiGanModel

    train(cfg, HifiGanModel)


if __name__ == "__main__":
    main()
