"""Train a Transformer translation model (MTEncDecModel) from parallel text files.

    python examples/nlp/machine_translation/enc_dec_nmt.py \
        model.train_ds.src_file_name=train.en model.train_ds.tgt_file_name=train.de \
        model.validation_ds.src_file_name=dev.en model.validation_ds.tgt_file_name=dev.de \
        ~model.test_ds model.preproc_out_dir=spm_out \
        model.encoder.num_layers=3 model.decoder.num_layers=3 trainer.max_epochs=5 +trainer.fast_dev_run=true

The model config is `AAYNBaseConfig` updated by conf/aayn_base.yaml and then the command line. If the
tokenizer models are not given and `model.preproc_out_dir` is set, one shared SentencePiece BPE
model (with pad/bos/eos) is trained there on the training files first. The trained model is
saved to `<exp dir>/<name>.nemo` (or `model.nemo_path`) and a few dev sentences are translated.
"""

import os
import lightning.pytorch as pl
from omegaconf import OmegaConf, open_dict

from nemo.collections.nlp.models import MTEncDecModel
from nemo.collections.nlp.models.machine_translation.mt_enc_dec_config import AAYNBaseConfig
from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager


def model_config(yaml_model) -> "DictConfig":
    """AAYNBaseConfig defaults under the YAML/CLI values (precedence CLI > YAML > dataclass).
    A data section removed on the command line (`~model.test_ds`) stays removed."""
    merged = OmegaConf.merge(OmegaConf.structured(AAYNBaseConfig()), yaml_model)
    merged = OmegaConf.create(OmegaConf.to_container(merged))
    for section in ("train_ds", "validation_ds", "test_ds"):
        if section not in yaml_model:
            merged[section] = None
    OmegaConf.set_struct(merged, True)
    return merged


def train_shared_tokenizer(model_cfg, out_dir: str) -> str:
    """One SentencePiece BPE model on both sides' training text (reused if it exists)."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    os.makedirs(out_dir, exist_ok=True)
    corpus = os.path.join(out_dir, "spm_corpus.txt")
    if not os.path.exists(os.path.join(out_dir, "tokenizer.model")):
        with open(corpus, "w", encoding="utf-8") as out:
            for path in (model_cfg.train_ds.src_file_name, model_cfg.train_ds.tgt_file_name):
                with open(path, encoding="utf-8") as f:
                    out.writelines(f)
    vocab_size = model_cfg.encoder_tokenizer.get("vocab_size") or 8000
    model_path, _ = create_spt_model(corpus, vocab_size, sample_size=-1, do_lower_case=False, tokenizer_type="bpe",
                                     output_dir=out_dir, bos=True, eos=True, pad=True, character_coverage=0.9999,
                                     remove_extra_whitespaces=True)
    return model_path


@hydra_runner(config_path="conf", config_name="aayn_base")
def main(cfg):
    model_cfg = model_config(cfg.model)
    logging.info(f"Config:\n{OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)
    if not model_cfg.encoder_tokenizer.tokenizer_model or not model_cfg.decoder_tokenizer.tokenizer_model:
        if not model_cfg.get("preproc_out_dir"):
            raise ValueError("set model.encoder_tokenizer.tokenizer_model/decoder_tokenizer.tokenizer_model, "
                             "or model.preproc_out_dir to train a shared SentencePiece model there")
        spm_model = train_shared_tokenizer(model_cfg, model_cfg.preproc_out_dir)
        with open_dict(model_cfg):
            model_cfg.encoder_tokenizer.tokenizer_model = spm_model
            model_cfg.decoder_tokenizer.tokenizer_model = spm_model

    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model = MTEncDecModel(model_cfg, trainer=trainer)
    model.maybe_init_from_pretrained_checkpoint(cfg)
    if cfg.do_training:
        trainer.fit(model)
    if cfg.do_testing and model_cfg.get("test_ds") is not None and model_cfg.test_ds.get("src_file_name"):
        trainer.test(model)
    if trainer.fast_dev_run:
        return
    nemo_path = cfg.get("nemo_path") or os.path.join(str(log_dir or "."), f"{cfg.name}.nemo")
    model.save_to(nemo_path)
    logging.info(f"Model saved to {nemo_path}")
    dev_src = model_cfg.get("validation_ds", {}).get("src_file_name") if model_cfg.get("validation_ds") else None
    if dev_src and os.path.isfile(str(dev_src)):
        with open(dev_src, encoding="utf-8") as f:
            lines = [next(f).strip() for _ in range(3)]
        for src, hyp in zip(lines, model.translate(lines, model_cfg.src_language, model_cfg.tgt_language)):
            print(f"{src}\n  -> {hyp}")


if __name__ == "__main__":
    main()
