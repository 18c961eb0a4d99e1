"""Train a subword (SentencePiece) CTC speech recogniser (Conformer, FastConformer, ...) from a YAML recipe.

    python -m nemo.collections.common.tokenizers.process_asr_text_tokenizer --manifest train_manifest.json \\
        --data_root tokenizers --vocab_size 128 --tokenizer spe --spe_type bpe       # prints the tokenizer folder
    python examples/asr/asr_ctc/speech_to_text_ctc_bpe.py \\
        --config-path=../conf/fastconformer --config-name=fast-conformer_ctc_bpe \\
        model.tokenizer.dir=tokenizers/tokenizer_spe_bpe_v128 \\
        model.train_ds.manifest_filepath=train_manifest.json \\
        model.validation_ds.manifest_filepath=dev_manifest.json \\
        trainer.devices=1 trainer.accelerator=cpu trainer.max_epochs=50

Options and config-path lookup are those of `speech_to_text_ctc.py` (the character-model script beside this one);
the model is `EncDecCTCModelBPE`, whose tokenizer files are packed into the `.nemo`.
"""

import os
import sys

import lightning.pytorch as pl
from omegaconf import OmegaConf

from nemo.collections.asr.models import EncDecCTCModelBPE
from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speech_to_text_ctc import PrintWER, _resolve_config_path  # noqa: E402  (the sibling script's helpers)


@hydra_runner(config_path="../conf/fastconformer", config_name="fast-conformer_ctc_bpe")
def main(cfg):
    logging.info(f"Hydra config: {OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)

    trainer = pl.Trainer(**cfg.trainer, callbacks=[PrintWER()])
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    asr_model = EncDecCTCModelBPE(cfg=cfg.model, trainer=trainer)
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
