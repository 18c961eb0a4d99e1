"""`TextClassificationModel`: a BERT-family encoder (`get_lm_model`) and a `SequenceClassifier` on
the [CLS] state, trained with cross-entropy, evaluated with a `ClassificationReport`."""

import logging as std_logging
from typing import Dict, List, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo.collections.nlp.data.text_classification.text_classification_dataset import (
    TextClassificationDataset,
    calc_class_weights,
)
from nemo.collections.nlp.losses.cross_entropy import CrossEntropyLoss
from nemo.collections.nlp.metrics.classification_report import ClassificationReport
from nemo.collections.nlp.models.nlp_model import NLPModel
from nemo.collections.nlp.modules.common.classifiers import SequenceClassifier
from nemo.collections.nlp.modules.common.lm_utils import get_lm_model
from nemo.collections.nlp.parts.resolvers import register_resolvers
from nemo.core.classes.exportable import Exportable
from nemo.core.neural_types import ChannelType, LogitsType, MaskType, NeuralType
from nemo.utils import logging

register_resolvers()


class TextClassificationModel(NLPModel, Exportable):
    """Sentence classification: `forward(input_ids, token_type_ids, attention_mask) -> logits (B, C)`."""

    @property
    def input_types(self) -> Dict[str, NeuralType]:
        return {
            "input_ids": NeuralType(("B", "T"), ChannelType()),
            "token_type_ids": NeuralType(("B", "T"), ChannelType()),
            "attention_mask": NeuralType(("B", "T"), MaskType()),
        }

    @property
    def output_types(self) -> Dict[str, NeuralType]:
        return {"logits": NeuralType(("B", "D"), LogitsType())}

    def __init__(self, cfg: DictConfig, trainer: Trainer = None):
        """Initializes the BERTTextClassifier model."""
        self.dataset_cfg = cfg.dataset
        self.class_weights = None
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg
        lm = cfg.language_model
        config_file = self.register_artifact("language_model.config_file", lm.config_file) if lm.get("config_file") else None

        # instantiate a BERT based encoder
        self.bert_model = get_lm_model(
            config_file=config_file,
            config_dict=lm.get("config"),
            vocab_file=cfg.tokenizer.get("vocab_file"),
            trainer=trainer,
            cfg=cfg,
        )
        self.hidden_size = self.bert_model.config.hidden_size
        if config_file is None:  # a given (or restored) config file is already the artifact
            self.register_bert_model()

        # instantiate the FFN for classification
        self.classifier = SequenceClassifier(
            hidden_size=self.bert_model.config.hidden_size,
            num_classes=cfg.dataset.num_classes,
            num_layers=cfg.classifier_head.num_output_layers,
            activation="relu",
            log_softmax=False,
            dropout=cfg.classifier_head.fc_dropout,
            use_transformer_init=True,
            idx_conditioned_on=0,
        )
        self.create_loss_module()
        self.classification_report = ClassificationReport(
            num_classes=cfg.dataset.num_classes, label_ids=self._label_ids(), mode="micro", dist_sync_on_step=True
        )
        self._val_losses: List[torch.Tensor] = []

    def _label_ids(self) -> Optional[Dict[str, int]]:
        labels_file = self._cfg.get("class_labels", {}).get("class_labels_file") if self._cfg.get("class_labels") else None
        if not labels_file:
            return None
        path = self.register_artifact("class_labels.class_labels_file", labels_file)
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
        return {name: i for i, name in enumerate(names)}

    def create_loss_module(self) -> None:
        if getattr(self, "loss", None) is not None:
            return
        self.loss = CrossEntropyLoss(weight=self.class_weights) if self.class_weights else CrossEntropyLoss()

    def forward(self, input_ids, token_type_ids, attention_mask):
        """
        No special modification required for Lightning, define it as you normally would
        in the `nn.Module` in vanilla PyTorch.
        """
        hidden_states = self.bert_model(
            input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
        )
        if isinstance(hidden_states, tuple):
            hidden_states = hidden_states[0]
        logits = self.classifier(hidden_states=hidden_states)
        return logits.float()

    # ---------------------------------------------------------------- steps
    def training_step(self, batch, batch_idx):
        """
        Lightning calls this inside the training loop with the data from the training dataloader
        passed in as `batch`.
        """
        input_ids, input_type_ids, input_mask, labels = batch
        logits = self.forward(input_ids=input_ids, token_type_ids=input_type_ids, attention_mask=input_mask)
        train_loss = self.loss(logits=logits, labels=labels)
        lr = self._optimizer.param_groups[0]["lr"] if self._optimizer is not None else self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log("train_loss", train_loss)
        self.log("lr", lr, prog_bar=True)
        return {"loss": train_loss, "lr": lr}

    def validation_step(self, batch, batch_idx, split: str = "val"):
        """
        Lightning calls this inside the validation loop with the data from the validation dataloader
        passed in as `batch`.
        """
        input_ids, input_type_ids, input_mask, labels = batch
        logits = self.forward(input_ids=input_ids, token_type_ids=input_type_ids, attention_mask=input_mask)
        val_loss = self.loss(logits=logits, labels=labels)
        preds = torch.argmax(logits, axis=-1)
        tp, fn, fp, _ = self.classification_report(preds, labels)
        output = {f"{split}_loss": val_loss, "tp": tp, "fn": fn, "fp": fp}
        (self.validation_step_outputs if split == "val" else self.test_step_outputs).append(output)
        return output

    def test_step(self, batch, batch_idx):
        return self.validation_step(batch, batch_idx, split="test")

    def on_validation_epoch_end(self, split: str = "val"):
        outputs = self.validation_step_outputs if split == "val" else self.test_step_outputs
        if not outputs:
            return {}
        loss = torch.stack([o[f"{split}_loss"] for o in outputs]).mean()
        precision, recall, f1, report = self.classification_report.compute()
        logging.info(f"{split}_report:\n{report}")
        self.log(f"{split}_loss", loss, prog_bar=True)
        self.log(f"{split}_precision", precision)
        self.log(f"{split}_f1", f1)
        self.log(f"{split}_recall", recall)
        self.classification_report.reset()
        outputs.clear()
        return {f"{split}_loss": loss, f"{split}_precision": precision, f"{split}_f1": f1, f"{split}_recall": recall}

    def on_test_epoch_end(self):
        return self.on_validation_epoch_end(split="test")

    # ----------------------------------------------------------------- data
    def _setup_dataloader_from_config(self, cfg: DictConfig):
        file_path = cfg.get("file_path")
        if not file_path:
            return None
        dataset = TextClassificationDataset(
            tokenizer=self.tokenizer,
            input_file=file_path,
            max_seq_length=self.dataset_cfg.max_seq_length,
            num_samples=cfg.get("num_samples", -1),
            shuffle=False,
            use_cache=self.dataset_cfg.get("use_cache", False),
            num_classes=self.dataset_cfg.num_classes,
        )
        return torch.utils.data.DataLoader(
            dataset=dataset,
            batch_size=cfg.batch_size,
            shuffle=cfg.get("shuffle", False),
            num_workers=cfg.get("num_workers", 0),
            pin_memory=cfg.get("pin_memory", False),
            drop_last=cfg.get("drop_last", False),
            collate_fn=dataset.collate_fn,
            persistent_workers=cfg.get("num_workers", 0) > 0,
        )

    def setup_training_data(self, train_data_config: Optional[DictConfig]):
        if not train_data_config or not train_data_config.get("file_path"):
            logging.info("train_ds.file_path is not set: no training data loader. Set it to train.")
            self._train_dl = None
            return
        self._update_dataset_config("train", train_data_config)
        self._train_dl = self._setup_dataloader_from_config(train_data_config)
        if self.dataset_cfg.get("class_balancing") == "weighted_loss":
            self.class_weights = calc_class_weights(train_data_config.file_path, self.dataset_cfg.num_classes)
            self.loss = CrossEntropyLoss(weight=self.class_weights)

    def setup_validation_data(self, val_data_config: Optional[DictConfig]):
        if not val_data_config or not val_data_config.get("file_path"):
            logging.info("validation_ds.file_path is not set: no validation data loader.")
            self._validation_dl = None
            return
        self._update_dataset_config("validation", val_data_config)
        self._validation_dl = self._setup_dataloader_from_config(val_data_config)

    def setup_test_data(self, test_data_config: Optional[DictConfig]):
        if not test_data_config or not test_data_config.get("file_path"):
            logging.info("test_ds.file_path is not set: no test data loader.")
            self._test_dl = None
            return
        self._update_dataset_config("test", test_data_config)
        self._test_dl = self._setup_dataloader_from_config(test_data_config)

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def classifytext(self, queries: List[str], batch_size: int = 1, max_seq_length: int = -1) -> List[int]:
        """Class ids for `queries` (the model's mode and the logging level are restored after)."""
        mode = self.training
        level = logging.getEffectiveLevel() if hasattr(logging, "getEffectiveLevel") else None
        try:
            self.eval()
            if level is not None:
                logging.setLevel(std_logging.WARNING)
            dataset = TextClassificationDataset(tokenizer=self.tokenizer, queries=queries, max_seq_length=max_seq_length)
            loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=dataset.collate_fn)
            device = next(self.parameters()).device
            predictions: List[int] = []
            for input_ids, input_type_ids, input_mask, _ in loader:
                logits = self.forward(
                    input_ids=input_ids.to(device), token_type_ids=input_type_ids.to(device), attention_mask=input_mask.to(device)
                )
                predictions.extend(torch.argmax(logits, dim=-1).tolist())
            return predictions
        finally:
            self.train(mode)
            if level is not None:
                logging.setLevel(level)

    # --------------------------------------------------------------- export
    def input_example(self, max_batch: int = 2, max_dim: int = 16):
        vocab = self.bert_model.config.vocab_size
        device = next(self.parameters()).device
        ids = torch.randint(low=1, high=vocab, size=(max_batch, max_dim), device=device)
        types = torch.zeros_like(ids)
        mask = torch.ones_like(ids)
        mask[-1, max_dim // 2:] = 0
        return ids, types, mask

    def _prepare_for_export(self, **kwargs) -> None:
        # Eager attention traces to plain ONNX ops (SDPA's fused path does not).
        self._attn_impl_before_export = getattr(self.bert_model.config, "_attn_implementation", None)
        if hasattr(self.bert_model, "set_attn_implementation"):
            self.bert_model.set_attn_implementation("eager")
        else:
            self.bert_model.config._attn_implementation = "eager"

    def _export_teardown(self) -> None:
        before = getattr(self, "_attn_impl_before_export", None)
        if before:
            if hasattr(self.bert_model, "set_attn_implementation"):
                self.bert_model.set_attn_implementation(before)
            else:
                self.bert_model.config._attn_implementation = before
