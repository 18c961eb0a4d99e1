"""`MTEncDecModel`: Transformer encoder-decoder translation with SentencePiece tokenizers (packed in
the `.nemo`), label-smoothed training, beam-search decoding and sacreBLEU evaluation."""

import math
import random
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf

from nemo.collections.nlp.data.machine_translation.translation_dataset import TranslationDataset
from nemo.collections.nlp.losses.cross_entropy import SmoothedCrossEntropyLoss
from nemo.collections.nlp.models.nlp_model import NLPModel
from nemo.collections.nlp.modules.common.classifiers import TokenClassifier, transformer_weights_init
from nemo.collections.nlp.modules.common.tokenizer_utils import get_nmt_tokenizer
from nemo.collections.nlp.modules.common.transformer.transformer import get_transformer
from nemo.collections.nlp.modules.common.transformer.transformer_generators import BeamSearchSequenceGenerator
from nemo.core.classes.exportable import Exportable
from nemo.utils import logging


def _plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


class MTEncDecModel(NLPModel, Exportable):
    """`forward(src, src_mask, tgt, tgt_mask) -> log-probs (B, L, V_tgt)`; `translate(texts)`."""

    def __init__(self, cfg: DictConfig, trainer: Trainer = None):
        cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.structured(cfg) if hasattr(cfg, "__dataclass_fields__") else OmegaConf.create(cfg)
        if cfg.get("multilingual", False):
            raise NotImplementedError("multilingual translation models are not supported")
        self.src_language = cfg.get("src_language", "en")
        self.tgt_language = cfg.get("tgt_language", "en")
        self.validate_input_ids = cfg.get("validate_input_ids", True)
        super().__init__(cfg=cfg, trainer=trainer)
        cfg = self._cfg

        # encoder, decoder, tied output head (the tokenizers exist: setup_before_data)
        enc_cfg = _plain(cfg.encoder)
        enc_cfg["vocab_size"] = self.encoder_vocab_size
        dec_cfg = _plain(cfg.decoder)
        dec_cfg["vocab_size"] = self.decoder_vocab_size
        self.encoder = get_transformer(enc_cfg.get("library", "nemo"), enc_cfg, encoder=True,
                                       pre_ln_final_layer_norm=enc_cfg.get("pre_ln_final_layer_norm", False),
                                       padding_idx=self.encoder_tokenizer.pad_id)
        self.decoder = get_transformer(dec_cfg.get("library", "nemo"), dec_cfg, encoder=False,
                                       pre_ln_final_layer_norm=dec_cfg.get("pre_ln_final_layer_norm", False),
                                       padding_idx=self.decoder_tokenizer.pad_id)
        if self.encoder.hidden_size != self.decoder.hidden_size:
            raise ValueError(f"encoder.hidden_size {self.encoder.hidden_size} != decoder.hidden_size {self.decoder.hidden_size}")
        head = cfg.get("head", {})
        self.log_softmax = TokenClassifier(
            hidden_size=self.decoder.hidden_size,
            num_classes=self.decoder_vocab_size,
            activation=head.get("activation", "relu"),
            log_softmax=head.get("log_softmax", True),
            dropout=head.get("dropout", 0.0),
            use_transformer_init=head.get("use_transformer_init", True),
        )
        if cfg.get("shared_embeddings", False):
            if not cfg.get("shared_tokenizer", True):
                raise ValueError("shared_embeddings requires shared_tokenizer")
            self.encoder.embedding.token_embedding.weight = self.decoder.embedding.token_embedding.weight

        std_init_range = 1 / math.sqrt(self.encoder.hidden_size)
        init = lambda m: transformer_weights_init(m, std_init_range)  # noqa: E731
        if not enc_cfg.get("pretrained", False):
            self.encoder.apply(init)
        if not dec_cfg.get("pretrained", False):
            self.decoder.apply(init)
        self.log_softmax.apply(init)
        # the output projection is the decoder's token embedding (the bias stays separate)
        self.log_softmax.mlp.layer0.weight = self.decoder.embedding.token_embedding.weight

        self.beam_search = BeamSearchSequenceGenerator(
            embedding=self.decoder.embedding,
            decoder=self.decoder.decoder,
            log_softmax=self.log_softmax,
            max_sequence_length=self.decoder.max_sequence_length,
            beam_size=cfg.get("beam_size", 4),
            bos=self.decoder_tokenizer.bos_id,
            pad=self.decoder_tokenizer.pad_id,
            eos=self.decoder_tokenizer.eos_id,
            len_pen=cfg.get("len_pen", 0.0),
            max_delta_length=cfg.get("max_generation_delta", 50),
        )
        self.loss_fn = SmoothedCrossEntropyLoss(pad_id=self.decoder_tokenizer.pad_id, label_smoothing=cfg.get("label_smoothing", 0.0))
        self.eval_loss_fn = torch.nn.NLLLoss(ignore_index=self.decoder_tokenizer.pad_id)
        self._eval_outputs: Dict[str, List[dict]] = {"val": [], "test": []}

    # ------------------------------------------------------------ tokenizers
    def setup_before_data(self) -> None:
        """Both tokenizers (the data loaders need them); their files travel in the `.nemo`."""
        super().setup_before_data()
        self.encoder_tokenizer = self._build_tokenizer("encoder_tokenizer", self._cfg.encoder_tokenizer)
        self.decoder_tokenizer = self._build_tokenizer("decoder_tokenizer", self._cfg.decoder_tokenizer)

    def _build_tokenizer(self, section: str, tok_cfg: DictConfig):
        library = tok_cfg.get("library", "sentencepiece")
        model = tok_cfg.get("tokenizer_model")
        if library == "sentencepiece" and not model:
            raise ValueError(f"{section}.tokenizer_model is required (a SentencePiece .model with pad/bos/eos)")
        model = self.register_artifact(f"{section}.tokenizer_model", model) if model else None
        vocab = self.register_artifact(f"{section}.vocab_file", tok_cfg.vocab_file) if tok_cfg.get("vocab_file") else None
        return get_nmt_tokenizer(
            library=library,
            model_name=tok_cfg.get("model_name"),
            tokenizer_model=model,
            vocab_file=vocab,
            special_tokens=tok_cfg.get("special_tokens"),
            bpe_dropout=tok_cfg.get("bpe_dropout", 0.0),
            r2l=tok_cfg.get("r2l", False),
            legacy=tok_cfg.get("sentencepiece_legacy", False),
        )

    @property
    def encoder_vocab_size(self) -> int:
        return self.encoder_tokenizer.vocab_size

    @property
    def decoder_vocab_size(self) -> int:
        return self.decoder_tokenizer.vocab_size

    # ----------------------------------------------------------------- data
    def _setup_dataloader_from_config(self, cfg: DictConfig):
        if cfg.get("use_tarred_dataset", False):
            raise NotImplementedError("tarred translation datasets are not supported; give src_file_name/tgt_file_name")
        src, tgt = cfg.get("src_file_name"), cfg.get("tgt_file_name")
        if src is None or tgt is None or OmegaConf.is_missing(cfg, "src_file_name"):
            return None
        if isinstance(src, (list, tuple)) or OmegaConf.is_list(src):
            raise NotImplementedError("lists of translation files are not supported; concatenate them")
        dataset = TranslationDataset(
            dataset_src=str(src), dataset_tgt=str(tgt), tokens_in_batch=cfg.tokens_in_batch,
            clean=cfg.get("clean", False), max_seq_length=cfg.get("max_seq_length", 512),
            min_seq_length=cfg.get("min_seq_length", 1), reverse_lang_direction=cfg.get("reverse_lang_direction", False),
        )
        dataset.batchify(self.encoder_tokenizer, self.decoder_tokenizer)
        sampler = torch.utils.data.RandomSampler(dataset) if cfg.get("shuffle", False) else torch.utils.data.SequentialSampler(dataset)
        workers = cfg.get("num_workers", 2)
        return torch.utils.data.DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=workers,
                                           pin_memory=cfg.get("pin_memory", False), drop_last=cfg.get("drop_last", False),
                                           collate_fn=dataset.collate_fn, persistent_workers=workers > 0)

    def _setup(self, kind: str, config) -> None:
        attr = {"train": "_train_dl", "validation": "_validation_dl", "test": "_test_dl"}[kind]
        if not config:
            setattr(self, attr, None)
            return
        self._update_dataset_config(kind, config)
        setattr(self, attr, self._setup_dataloader_from_config(config))

    def setup_training_data(self, train_data_config: Optional[DictConfig]):
        self._setup("train", train_data_config)

    def setup_validation_data(self, val_data_config: Optional[DictConfig]):
        self._setup("validation", val_data_config)

    def setup_test_data(self, test_data_config: Optional[DictConfig]):
        self._setup("test", test_data_config)

    # -------------------------------------------------------------- forward
    def forward(self, src, src_mask, tgt, tgt_mask):
        if self.validate_input_ids:
            for name, ids, vocab in (("source", src, self.encoder_vocab_size), ("target", tgt, self.decoder_vocab_size)):
                if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
                    raise ValueError(f"{name} ids must be in [0, {vocab}); got [{int(ids.min())}, {int(ids.max())}]")
        enc = self.encoder(input_ids=src, encoder_mask=src_mask)
        dec = self.decoder(input_ids=tgt, decoder_mask=tgt_mask, encoder_embeddings=enc, encoder_mask=src_mask)
        return self.log_softmax(hidden_states=dec)

    def training_step(self, batch, batch_idx):
        src, src_mask, tgt, tgt_mask, labels = batch
        log_probs = self(src, src_mask, tgt, tgt_mask)
        train_loss = self.loss_fn(log_probs=log_probs, labels=labels)
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer is not None and self.trainer.optimizers else float("nan")
        self.log("train_loss", train_loss, prog_bar=True, batch_size=src.shape[0])
        self.log("lr", lr, prog_bar=True, batch_size=src.shape[0])
        return {"loss": train_loss}

    def eval_step(self, batch, batch_idx, mode: str):
        src, src_mask, tgt, tgt_mask, labels = batch
        log_probs = self(src, src_mask, tgt, tgt_mask)
        eval_loss = self.eval_loss_fn(log_probs.transpose(1, 2), labels)
        _, translations = self.batch_translate(src, src_mask)
        references = [self.decoder_tokenizer.ids_to_text(self._strip(row)) for row in labels.tolist()]
        out = {"loss": eval_loss.detach(), "weight": labels.numel(), "translations": translations, "references": references}
        self._eval_outputs[mode].append(out)
        return out

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self.eval_step(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self.eval_step(batch, batch_idx, "test")

    def _strip(self, ids: List[int]) -> List[int]:
        tok = self.decoder_tokenizer
        out = []
        for i in ids:
            if i == tok.eos_id:
                break
            if i not in (tok.pad_id, tok.bos_id):
                out.append(i)
        return out

    def _eval_epoch_end(self, mode: str):
        outputs = self._eval_outputs[mode]
        if not outputs:
            return {}
        import sacrebleu

        total = sum(o["weight"] for o in outputs)
        loss = sum(o["loss"] * o["weight"] for o in outputs) / total
        pairs = [(t, r) for o in outputs for t, r in zip(o["translations"], o["references"]) if r.strip()]
        tokenize = {"ja": "ja-mecab", "ja-mecab": "ja-mecab", "zh": "zh"}.get(str(self.tgt_language), "13a")
        bleu = sacrebleu.corpus_bleu([t for t, _ in pairs], [[r for _, r in pairs]], tokenize=tokenize).score if pairs else 0.0
        n_examples = self._cfg.get(f"num_{'val' if mode == 'val' else 'test'}_examples", 3)
        for t, r in random.Random(0).sample(pairs, min(n_examples, len(pairs))):
            logging.info(f"{mode} example\n    reference:   {r}\n    translation: {t}")
        self.log(f"{mode}_loss", loss, prog_bar=True, sync_dist=True)
        self.log(f"{mode}_sacreBLEU", bleu, prog_bar=True, sync_dist=True)
        outputs.clear()
        return {f"{mode}_loss": loss, f"{mode}_sacreBLEU": bleu}

    def on_validation_epoch_end(self):
        return self._eval_epoch_end("val")

    def on_test_epoch_end(self):
        return self._eval_epoch_end("test")

    # ------------------------------------------------------------ decoding
    @torch.no_grad()
    def batch_translate(self, src: torch.Tensor, src_mask: torch.Tensor, return_beam_scores: bool = False):
        """Beam-search translations of a padded id batch; returns `(inputs, translations)`
        (with `return_beam_scores`: `(inputs, all_translations, scores, best_translations)`)."""
        mode = self.training
        try:
            self.eval()
            enc = self.encoder(input_ids=src, encoder_mask=src_mask)
            result = self.beam_search(encoder_hidden_states=enc, encoder_input_mask=src_mask, return_beam_scores=return_beam_scores)
            inputs = [self.encoder_tokenizer.ids_to_text(self._strip_src(row)) for row in src.tolist()]
            decode = lambda ids: self.decoder_tokenizer.ids_to_text(self._strip(self._clip(ids)))  # noqa: E731
            if return_beam_scores:
                all_tokens, scores, best = result
                all_text = [[decode(b) for b in beams] for beams in all_tokens.tolist()]
                return inputs, all_text, scores, [decode(b) for b in best.tolist()]
            return inputs, [decode(row) for row in result.tolist()]
        finally:
            self.train(mode)

    def _clip(self, ids: List[int]) -> List[int]:
        unk = self.decoder_tokenizer.unk_id
        return [i if i < self.decoder_vocab_size else unk for i in ids]

    def _strip_src(self, ids: List[int]) -> List[int]:
        tok = self.encoder_tokenizer
        return [i for i in ids if i not in (tok.pad_id, tok.bos_id, tok.eos_id)]

    @torch.no_grad()
    def translate(self, text: List[str], source_lang: Optional[str] = None, target_lang: Optional[str] = None,
                  return_beam_scores: bool = False, log_timing: bool = False):
        """Translate a list of sentences; returns a list of strings (with `return_beam_scores`,
        `(all_translations, scores, best_translations)`)."""
        if isinstance(text, str):
            raise TypeError("translate() takes a list of sentences")
        if source_lang is not None and target_lang is not None:
            if source_lang != self.src_language or target_lang != self.tgt_language:
                logging.warning(f"model translates {self.src_language}->{self.tgt_language}; asked for {source_lang}->{target_lang}")
        if not text:
            return []
        tok = self.encoder_tokenizer
        rows = [[tok.bos_id] + tok.text_to_ids(line.rstrip("\n")) + [tok.eos_id] for line in text]
        limit = self.encoder.max_sequence_length
        rows = [r[: limit - 1] + [tok.eos_id] if len(r) > limit else r for r in rows]
        width = max(len(r) for r in rows)
        src = np.full((len(rows), width), tok.pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            src[i, : len(r)] = r
        device = next(self.parameters()).device
        src = torch.from_numpy(src).to(device)
        src_mask = (src != tok.pad_id).long()
        if return_beam_scores:
            _, all_text, scores, best = self.batch_translate(src, src_mask, return_beam_scores=True)
            return all_text, scores, best
        return self.batch_translate(src, src_mask)[1]

    # --------------------------------------------------------------- export
    def list_export_subnets(self) -> List[str]:
        return ["encoder"]

    @classmethod
    def list_available_models(cls):
        return None
