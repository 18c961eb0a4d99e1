"""Compute and cache FastPitch's supplementary data (pitch) for the train manifest; print pitch mean/std.

    python examples/tts/extract_sup_data.py train_dataset=train.json validation_datasets=dev.json sup_data_path=sup

Uses the same config as fastpitch.py (`--config-name fastpitch`); pitch_mean/pitch_std may stay unset.
Later training runs read the cached files instead of running pYIN again.
"""

import os
import sys
import time

from omegaconf import OmegaConf, open_dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nemo.core.config import hydra_runner  # noqa: E402


def pitch_stats(cfg):
    from nemo.core.classes.common import safe_instantiate
    from nemo.collections.tts.parts.tokenizers import resolve_tokenizer_target

    with open_dict(cfg):
        cfg.pitch_mean, cfg.pitch_std = 0.0, 1.0  # unused here; pitch is read un-normalised
    resolved = OmegaConf.to_container(OmegaConf.merge(cfg, {}).model.train_ds.dataset, resolve=True)
    resolved["pitch_norm"] = False
    tok_cfg = OmegaConf.create(OmegaConf.to_container(cfg.model.text_tokenizer, resolve=True))
    resolve_tokenizer_target(tok_cfg)
    tokenizer = safe_instantiate(tok_cfg)
    dataset = safe_instantiate(OmegaConf.create(resolved), text_tokenizer=tokenizer)
    return dataset.pitch_statistics(), len(dataset)


@hydra_runner(config_path="conf", config_name="fastpitch")
def main(cfg):
    start = time.time()
    stats, n = pitch_stats(cfg)
    print(f"Cached pitch for {n} utterances in {time.time() - start:.1f} s under {cfg.sup_data_path}")
    print(f"PITCH_MEAN={stats['pitch_mean']:.2f}, PITCH_STD={stats['pitch_std']:.2f}")
    print(f"pitch_mean={stats['pitch_mean']:.2f} pitch_std={stats['pitch_std']:.2f}")


if __name__ == "__main__":
    main()
