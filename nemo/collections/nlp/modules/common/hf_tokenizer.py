"""`AutoTokenizer`: NeMo's text/token/id interface over a Hugging Face tokenizer, and the files that
let a `.nemo` rebuild it offline (`vocab.txt` + `tokenizer_config.json`)."""

import json
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence


class AutoTokenizer:
    """Wraps `transformers.AutoTokenizer`.

    Built from `pretrained_model_name` (local folder or cached hub name) or, when `vocab_file` is
    given, from that WordPiece vocabulary plus `tokenizer_config_file` (default: lower-casing
    `BertTokenizer`) without any network access.
    """

    def __init__(
        self,
        pretrained_model_name: Optional[str] = None,
        vocab_file: Optional[str] = None,
        tokenizer_config_file: Optional[str] = None,
        special_tokens: Optional[Dict[str, str]] = None,
        use_fast: bool = True,
    ):
        import transformers

        self.name = pretrained_model_name or "vocab"
        if vocab_file:
            if not os.path.isfile(vocab_file):
                raise FileNotFoundError(f"tokenizer vocab_file not found: {vocab_file}")
            with tempfile.TemporaryDirectory(prefix="nemo_tok_") as tmp:
                shutil.copyfile(vocab_file, os.path.join(tmp, "vocab.txt"))
                config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
                if tokenizer_config_file and os.path.isfile(tokenizer_config_file):
                    with open(tokenizer_config_file, encoding="utf-8") as f:
                        config = json.load(f)
                elif pretrained_model_name and os.path.isfile(os.path.join(pretrained_model_name, "tokenizer_config.json")):
                    with open(os.path.join(pretrained_model_name, "tokenizer_config.json"), encoding="utf-8") as f:
                        config = json.load(f)
                with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                    json.dump(config, f)
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(tmp, use_fast=use_fast, local_files_only=True)
        else:
            if not pretrained_model_name:
                raise ValueError("AutoTokenizer needs pretrained_model_name or vocab_file")
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained_model_name, use_fast=use_fast)
        if special_tokens:
            self.tokenizer.add_special_tokens({k: v for k, v in dict(special_tokens).items() if k != "additional_special_tokens"})
        self.vocab_size = len(self.tokenizer)

    # -- NeMo's interface ---------------------------------------------------------------------
    def text_to_tokens(self, text: str) -> List[str]:
        return self.tokenizer.tokenize(text)

    def tokens_to_text(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.convert_tokens_to_string(list(tokens))

    def tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        return self.tokenizer.convert_tokens_to_ids(list(tokens))

    def ids_to_tokens(self, ids) -> List[str]:
        return self.tokenizer.convert_ids_to_tokens([int(i) for i in ids])

    def text_to_ids(self, text: str) -> List[int]:
        return self.tokens_to_ids(self.text_to_tokens(text))

    def ids_to_text(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def _token(self, attr: str) -> Optional[str]:
        return getattr(self.tokenizer, attr, None)

    def _id(self, attr: str) -> Optional[int]:
        token = self._token(attr)
        return None if token is None else self.tokenizer.convert_tokens_to_ids(token)

    cls_token = property(lambda self: self._token("cls_token"))
    sep_token = property(lambda self: self._token("sep_token"))
    pad_token = property(lambda self: self._token("pad_token"))
    unk_token = property(lambda self: self._token("unk_token"))
    mask_token = property(lambda self: self._token("mask_token"))
    cls_id = property(lambda self: self._id("cls_token"))
    sep_id = property(lambda self: self._id("sep_token"))
    pad_id = property(lambda self: self._id("pad_token"))
    unk_id = property(lambda self: self._id("unk_token"))
    mask_id = property(lambda self: self._id("mask_token"))
    bos_id = property(lambda self: self._id("bos_token") if self._token("bos_token") else self._id("cls_token"))
    eos_id = property(lambda self: self._id("eos_token") if self._token("eos_token") else self._id("sep_token"))

    @property
    def vocab(self) -> List[str]:
        return [t for t, _ in sorted(self.tokenizer.get_vocab().items(), key=lambda kv: kv[1])]

    def save_files(self, directory: str) -> Dict[str, str]:
        """Write `vocab.txt` (tokens by id) and `tokenizer_config.json`; returns their paths by key."""
        os.makedirs(directory, exist_ok=True)
        vocab_path = os.path.join(directory, "vocab.txt")
        with open(vocab_path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.vocab) + "\n")
        config_path = os.path.join(directory, "tokenizer_config.json")
        with tempfile.TemporaryDirectory(prefix="nemo_tok_") as tmp:
            self.tokenizer.save_pretrained(tmp)
            with open(os.path.join(tmp, "tokenizer_config.json"), encoding="utf-8") as f:
                config = json.load(f)
        for key in ("is_local", "local_files_only", "name_or_path", "auto_map"):
            config.pop(key, None)
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        return {"vocab_file": vocab_path, "tokenizer_config_file": config_path}

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"AutoTokenizer(name={self.name!r}, vocab_size={self.vocab_size})"
