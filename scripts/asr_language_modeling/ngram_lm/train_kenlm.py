"""Train a token-level n-gram LM (modified Kneser-Ney, pure Python) for an ASR model's beam search.

Same keys as NeMo's script; no KenLM binaries are involved, so `kenlm_model_file` receives the ARPA file itself
(NGramGPULanguageModel and `decoding.beam.ngram_lm_model` read it) and `save_nemo=true` also writes
`<kenlm_model_file>.nemo`. Tokens are spelled `chr(id + 100)` (NeMo's DEFAULT_TOKEN_OFFSET), for subword and
character models alike.

    python scripts/asr_language_modeling/ngram_lm/train_kenlm.py nemo_model_file=asr.nemo \\
        train_paths=[train_manifest.json] kenlm_model_file=lm.arpa ngram_length=3 save_nemo=true
"""

import os
import sys
from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from nemo.core.config import hydra_runner  # noqa: E402


@dataclass
class TrainKenlmConfig:
    """What to read, which model's tokens to use, where to write (NeMo's TrainKenlmConfig keys)."""

    train_paths: List[str] = MISSING  # text files, NeMo manifests (.json/.jsonl/.json.gz) or folders of them
    nemo_model_file: str = MISSING  # the ASR model whose tokenization the LM uses
    kenlm_model_file: str = MISSING  # the ARPA file to write
    ngram_length: int = MISSING  # LM order
    kenlm_bin_path: Optional[str] = None  # unused: the estimation is pure Python
    preserve_arpa: bool = True  # the ARPA is the output here, so it is always kept
    ngram_prune: List[int] = field(default_factory=lambda: [0])  # only 0 (no pruning) is supported
    cache_path: str = ""  # unused
    verbose: int = 1
    save_nemo: bool = False  # also write <kenlm_model_file>.nemo (an NGramGPULanguageModel)
    normalize_unk_nemo: bool = True  # spread <unk>'s probability over the ids the LM never saw


def train(cfg) -> str:
    """Build the LM described by `cfg`; returns the ARPA path."""
    import torch

    from nemo.collections.asr.models import ASRModel
    from nemo.collections.asr.parts.submodules.ngram_lm import (
        DEFAULT_TOKEN_OFFSET,
        NGramGPULanguageModel,
        estimate_kneser_ney,
        write_arpa,
    )
    from nemo.collections.asr.parts.submodules.ngram_lm.kenlm_utils import ModelTokens, get_train_list, read_train_file
    from nemo.core.classes.exceptions import ConfigError
    from nemo.utils import logging

    if any(int(p) != 0 for p in cfg.ngram_prune):
        raise ConfigError(f"ngram_prune={list(cfg.ngram_prune)}: pruning is not supported; use [0]")
    if int(cfg.ngram_length) < 1:
        raise ConfigError(f"ngram_length must be >= 1, got {cfg.ngram_length}")
    model = ASRModel.restore_from(cfg.nemo_model_file, map_location=torch.device("cpu"))
    tokens = ModelTokens(model)
    del model
    sentences = []
    for path in get_train_list(list(cfg.train_paths)):
        sentences.extend(tokens.encode_all(read_train_file(path)))
    if not sentences:
        raise ConfigError(f"train_paths {list(cfg.train_paths)}: no transcripts found")
    logging.info(f"Estimating a {cfg.ngram_length}-gram LM ({tokens.encoding_level} tokens) on {len(sentences)} lines")
    table = estimate_kneser_ney(sentences, int(cfg.ngram_length))
    write_arpa(cfg.kenlm_model_file, table, token_offset=DEFAULT_TOKEN_OFFSET)
    logging.info(f"ARPA written to {cfg.kenlm_model_file}: " + ", ".join(
        f"{n}-grams {len(table.ngrams[n])}" for n in sorted(table.ngrams)))
    if cfg.save_nemo:
        lm = NGramGPULanguageModel.from_arpa(cfg.kenlm_model_file, vocab_size=tokens.vocab_size,
                                             normalize_unk=cfg.normalize_unk_nemo)
        lm.save_to(f"{cfg.kenlm_model_file}.nemo")
        logging.info(f"LM .nemo written to {cfg.kenlm_model_file}.nemo")
    return cfg.kenlm_model_file


@hydra_runner(config_path=None, config_name="TrainKenlmConfig", schema=TrainKenlmConfig)
def main(cfg):
    train(cfg)


if __name__ == "__main__":
    main()
