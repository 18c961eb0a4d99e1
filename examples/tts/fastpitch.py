"""Train FastPitch (learned alignment) with the NeMo runtime: Hydra config, Lightning Trainer, exp_manager.

    python examples/tts/extract_sup_data.py --config-name fastpitch train_dataset=train.json \
        validation_datasets=dev.json sup_data_path=sup          # caches pitch, prints pitch_mean/pitch_std
    python examples/tts/fastpitch.py train_dataset=train.json validation_datasets=dev.json \
        sup_data_path=sup pitch_mean=101.2 pitch_std=12.3 trainer.max_epochs=20
    python examples/tts/fastpitch.py ... model.symbols_embedding_dim=128 model.input_fft.n_layer=2 \
        trainer.max_time=00:00:20:00                             # a small model for a short CPU run
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from train_common import train  # noqa: E402

from nemo.core.config import hydra_runner  # noqa: E402


@hydra_runner(config_path="conf", config_name="fastpitch")
def main(cfg):
    from nemo.collections.tts.models import FastPitchModel

    train(cfg, FastPitchModel)


if __name__ == "__main__":
    main()
