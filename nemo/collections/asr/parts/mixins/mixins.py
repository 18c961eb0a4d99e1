"""ASRBPEMixin: a SentencePiece tokenizer from a `tokenizer: {dir, type}` config, kept as `.nemo` artifacts (spec §10.2)."""

import os
from typing import Dict, List, Optional, Union

from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.connectors import restore_context
from nemo.utils import logging

_ARTIFACT_KEYS = ("model_path", "vocab_path", "spe_tokenizer_vocab")
_DEFAULT_NAMES = {"model_path": "tokenizer.model", "vocab_path": "vocab.txt", "spe_tokenizer_vocab": "tokenizer.vocab"}


def _resolve(src: Optional[str]) -> Optional[str]:
    """A real path for `src`: `nemo:<member>` resolves inside the archive being restored."""
    if src is None:
        return None
    src = str(src)
    if src.startswith("nemo:"):
        ctx = restore_context.current()
        if ctx is None or not ctx.has(src[5:]):
            raise FileNotFoundError(f"tokenizer artifact {src} is not in the archive being restored")
        return ctx.artifact_path(src[5:])
    return os.path.abspath(os.path.expanduser(src))


class ASRBPEMixin:
    """Builds `self.tokenizer` (SentencePiece, type `bpe`) and registers its files as artifacts."""

    def _setup_tokenizer(self, tokenizer_cfg: DictConfig) -> DictConfig:
        """Load the tokenizer named by `tokenizer_cfg`; returns the config with the file keys filled in.

        Models call it from `setup_before_data` (data loaders use the tokenizer), then
        `_register_tokenizer_artifacts()`.
        """
        from nemo.collections.common.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        tokenizer_cfg = OmegaConf.create(OmegaConf.to_container(tokenizer_cfg, resolve=True))
        if tokenizer_cfg.get("special_tokens") is not None:
            raise ValueError("`special_tokens` are no longer supported for SentencePiece based tokenizers.")
        tokenizer_type = str(tokenizer_cfg.get("type", "")).lower()
        if tokenizer_type != "bpe":
            raise ValueError(f"tokenizer type {tokenizer_type!r} is not supported here; use type: bpe (SentencePiece)")
        tokenizer_dir = tokenizer_cfg.get("dir")
        with open_dict(tokenizer_cfg):
            tokenizer_cfg.type = tokenizer_type
            for key in _ARTIFACT_KEYS:
                if tokenizer_cfg.get(key) is None:
                    if tokenizer_dir is None:
                        if key == "spe_tokenizer_vocab":
                            continue
                        raise ValueError(f"tokenizer config needs `dir` or `{key}`")
                    tokenizer_cfg[key] = os.path.join(str(tokenizer_dir), _DEFAULT_NAMES[key])
        self.tokenizer_dir = tokenizer_dir
        self.tokenizer_type = tokenizer_type
        model_path = _resolve(tokenizer_cfg.model_path)
        self.tokenizer = SentencePieceTokenizer(model_path=model_path)
        vocab_path = _resolve(tokenizer_cfg.vocab_path)
        if not os.path.isfile(vocab_path):
            raise FileNotFoundError(f"tokenizer vocab file not found: {vocab_path}")
        self._tokenizer_cfg_pending = tokenizer_cfg
        self._attach_vocabulary()
        return tokenizer_cfg

    def _load_new_tokenizer(self, new_tokenizer_dir: Union[str, DictConfig], new_tokenizer_type: str) -> List[str]:
        """Replace the tokenizer (from a config or a directory of its files) and its artifacts; returns its pieces."""
        if isinstance(new_tokenizer_dir, DictConfig):
            tokenizer_cfg = OmegaConf.create(OmegaConf.to_container(new_tokenizer_dir))
        else:
            if not os.path.isdir(str(new_tokenizer_dir)):
                raise NotADirectoryError(f"New tokenizer dir must be non-empty path to a directory. But I got: "
                                         f"{new_tokenizer_dir}")
            if str(new_tokenizer_type).lower() not in ("bpe", "wpe"):
                raise ValueError(f"New tokenizer type must be either `bpe` or `wpe`, got {new_tokenizer_type}")
            tokenizer_cfg = OmegaConf.create({"dir": str(new_tokenizer_dir), "type": new_tokenizer_type})
        self._setup_tokenizer(tokenizer_cfg)
        for key in _ARTIFACT_KEYS:
            self.artifacts.pop(f"tokenizer.{key}", None)
        self._register_tokenizer_artifacts()
        return list(self.tokenizer.tokenizer.get_vocab().keys())

    def _attach_vocabulary(self) -> None:
        """NeMo's convention: the inner SentencePiece object carries vocab_size and get_vocab()."""
        inner = self.tokenizer.tokenizer
        vocabulary: Dict[str, int] = {}
        for i in range(self.tokenizer.vocab_size):
            piece = self.tokenizer.ids_to_tokens([i])[0]
            vocabulary[piece] = i + 1
        inner.vocab_size = len(vocabulary)
        inner.get_vocab = lambda: vocabulary
        inner.all_special_tokens = self.tokenizer.special_token_to_id

    def _register_tokenizer_artifacts(self) -> None:
        """Record the tokenizer files so `save_to` packs them; rewrites `cfg.tokenizer.*` paths."""
        tokenizer_cfg = self._tokenizer_cfg_pending
        with open_dict(self._cfg):
            self._cfg.tokenizer = tokenizer_cfg
        for key in _ARTIFACT_KEYS:
            src = tokenizer_cfg.get(key)
            if src is None:
                continue
            try:
                path = self.register_artifact(f"tokenizer.{key}", src, verify_src_exists=(key != "spe_tokenizer_vocab"))
            except FileNotFoundError:
                path = None
            if key == "spe_tokenizer_vocab":
                self.spe_vocab_path = path
            elif key == "vocab_path":
                self.vocab_path = path
        self.cfg = self._cfg

    def save_tokenizers(self, directory: str) -> None:
        """Copy the tokenizer's files (model, vocab.txt, tokenizer.vocab) into `directory`."""
        import shutil

        os.makedirs(directory, exist_ok=True)
        for key in _ARTIFACT_KEYS:
            item = self.artifacts.get(f"tokenizer.{key}") if getattr(self, "artifacts", None) else None
            if item is not None and item.path and os.path.isfile(item.path):
                shutil.copyfile(item.path, os.path.join(directory, _DEFAULT_NAMES[key]))
            elif key != "spe_tokenizer_vocab":
                logging.warning(f"tokenizer file {key} is not registered; not saved")


class ASRModuleMixin:
    """Model-level encoder surgery NeMo offers: attention type/context and subsampling chunking, kept in `cfg`."""

    def change_attention_model(self, self_attention_model: Optional[str] = None, att_context_size=None,
                               update_config: bool = True) -> None:
        """Switch the encoder's attention ('rel_pos', 'rel_pos_local_attn', 'abs_pos') and/or its context."""
        if self_attention_model is None and att_context_size is None:
            return
        encoder = getattr(self, "encoder", None)
        if not hasattr(encoder, "change_attention_model"):
            raise ValueError(f"{type(self).__name__}.encoder ({type(encoder).__name__}) has no attention to change")
        encoder.change_attention_model(self_attention_model, att_context_size, update_config, self.device)
        if update_config:
            with open_dict(self.cfg):
                self.cfg.encoder.self_attention_model = encoder.self_attention_model
                self.cfg.encoder.att_context_size = list(encoder.att_context_size)

    def change_subsampling_conv_chunking_factor(self, subsampling_conv_chunking_factor: int,
                                                update_config: bool = True) -> None:
        """Set the encoder's subsampling chunking factor (-1 off, 1 auto, or a power of 2)."""
        encoder = getattr(self, "encoder", None)
        if not hasattr(encoder, "change_subsampling_conv_chunking_factor"):
            raise ValueError(f"{type(self).__name__}.encoder ({type(encoder).__name__}) has no conv subsampling")
        encoder.change_subsampling_conv_chunking_factor(subsampling_conv_chunking_factor)
        if update_config:
            with open_dict(self.cfg):
                self.cfg.encoder.subsampling_conv_chunking_factor = subsampling_conv_chunking_factor
