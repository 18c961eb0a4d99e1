"""Training text for n-gram LMs: read transcripts (text files, NeMo manifests, .json.gz) and spell them in the
ASR model's tokens, as `train_kenlm.py` does."""

import gzip
import json
import os
from typing import Iterable, Iterator, List, Sequence

from nemo.core.classes.exceptions import ConfigError

# Model classes and the token level their LM uses (NeMo's table in kenlm_utils.SUPPORTED_MODELS).
SUPPORTED_MODELS = {
    "EncDecCTCModelBPE": "subword",
    "EncDecCTCModel": "char",
    "EncDecRNNTBPEModel": "subword",
    "EncDecRNNTModel": "char",
    "EncDecHybridRNNTCTCBPEModel": "subword",
    "EncDecHybridRNNTCTCModel": "char",
}


def get_train_list(paths: Sequence[str]) -> List[str]:
    """Files named in `paths`, folders expanded to their files, sorted."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(os.path.join(p, f) for f in os.listdir(p))
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise ConfigError(f"train_paths: {p} is neither a file nor a folder")
    return sorted(out)


def read_train_file(path: str) -> Iterator[str]:
    """Transcripts of one file: the `text` of each manifest line (.json/.jsonl/.json.gz), else each line."""
    manifest = path.endswith((".json", ".jsonl", ".json.gz"))
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if manifest:
                try:
                    text = json.loads(line)["text"]
                except (ValueError, KeyError, TypeError) as e:
                    raise ConfigError(f"{path}:{lineno}: not a manifest line with a 'text' field ({e})") from e
            else:
                text = line
            yield " ".join(text.split("\n"))


class ModelTokens:
    """Spells text in an ASR model's output tokens: the tokenizer's ids, or characters of the vocabulary."""

    def __init__(self, model):
        name = type(model).__name__
        self.encoding_level = SUPPORTED_MODELS.get(name, "subword" if hasattr(model, "tokenizer") else "char")
        if self.encoding_level == "subword":
            self.tokenizer = model.tokenizer
            self.vocab_size = int(model.decoding.blank_id)
        else:
            vocab = list(model.decoder.vocabulary)
            self.index = {ch: i for i, ch in enumerate(vocab)}
            self.vocab_size = len(vocab)

    def encode(self, text: str) -> List[int]:
        if self.encoding_level == "subword":
            return [int(i) for i in self.tokenizer.text_to_ids(text)]
        return [self.index[ch] for ch in text if ch in self.index]

    def encode_all(self, texts: Iterable[str]) -> Iterator[List[int]]:
        for text in texts:
            ids = self.encode(text)
            if ids:
                yield ids
