"""Train Tacotron2 with the NeMo runtime: Hydra config, Lightning Trainer, exp_manager.

    python examples/tts/tacotron2.py train_dataset=train.json validation_datasets=dev.json trainer.max_epochs=10
    python examples/tts/tacotron2.py --config-path=conf --config-name=tacotron2 ... +trainer.fast_dev_run=true
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from train_common import train  # noqa: E402

from nemo.core.config import hydra_runner  # noqa: E402


@hydra_runner(config_path="conf", config_name="tacotron2")
def main(cfg):
    from nemo.collections.tts.models import Tacotron2Model

    train(cfg, Tacotron2Model)


if __name__ == "__main__":
    main()
