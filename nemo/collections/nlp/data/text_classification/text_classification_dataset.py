"""Text classification data: NeMo's `sentence<TAB>label` files, features for BERT-style encoders,
and class weights for `class_balancing: weighted_loss`.

A line whose last field is not an integer (a header such as `sentence\tlabel`) is skipped; a label
outside `[0, num_classes)` is an error that names the file and line.
"""

import os
import random
from collections import Counter
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from nemo.core.classes.dataset import Dataset
from nemo.core.neural_types import ChannelType, LabelsType, MaskType, NeuralType


def read_labelled_lines(path: str, num_classes: Optional[int] = None) -> Iterator[Tuple[int, str, int]]:
    """Yield `(line_number, sentence, label)`; header/unlabelled lines are skipped."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"text classification data file not found: {path}")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.strip().split()
            if not fields:
                continue
            try:
                label = int(fields[-1])
            except ValueError:
                continue
            if num_classes is not None and not 0 <= label < num_classes:
                raise ValueError(f"{path}:{lineno}: label {label} is outside [0, {num_classes - 1}] (dataset.num_classes={num_classes})")
            yield lineno, " ".join(fields[:-1]), label


def calc_class_weights(file_path: str, num_classes: int) -> List[float]:
    """`w_c = total / (n_distinct * count_c)` for the labels present, 1.0 for absent classes."""
    counts = Counter(label for _, _, label in read_labelled_lines(file_path, num_classes))
    if not counts:
        raise ValueError(f"{file_path}: no labelled lines")
    total = sum(counts.values())
    return [total / (len(counts) * counts[c]) if counts.get(c) else 1.0 for c in range(num_classes)]


class TextClassificationDataset(Dataset):
    """Items `(input_ids, segment_ids, input_mask, label)`; `[CLS] tokens [SEP]`, truncated to
    `max_seq_length` (<= 0: no limit). Give `input_file` (labels read and checked) or `queries`
    (labels -1)."""

    @property
    def output_types(self):
        return {
            "input_ids": NeuralType(("B", "T"), ChannelType()),
            "segment_ids": NeuralType(("B", "T"), ChannelType()),
            "input_mask": NeuralType(("B", "T"), MaskType()),
            "label": NeuralType(("B",), LabelsType()),
        }

    def __init__(
        self,
        tokenizer,
        input_file: Optional[str] = None,
        queries: Optional[Sequence[str]] = None,
        max_seq_length: int = -1,
        num_samples: int = -1,
        shuffle: bool = False,
        use_cache: bool = False,
        num_classes: Optional[int] = None,
    ):
        if input_file is None and queries is None:
            raise ValueError("TextClassificationDataset needs input_file or queries")
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_id
        self.max_seq_length = max_seq_length
        if input_file is not None:
            rows = [(s, l) for _, s, l in read_labelled_lines(input_file, num_classes)]
            if num_samples > 0:
                rows = rows[:num_samples]
            if shuffle:
                random.shuffle(rows)
            if not rows:
                raise ValueError(f"{input_file}: no labelled lines (expected `sentence<TAB>label`)")
        else:
            rows = [(q.strip(), -1) for q in queries]
        self.features = [self._features(sentence) + [label] for sentence, label in rows]

    def _features(self, sentence: str) -> list:
        tokens = [self.tokenizer.cls_token]
        for word in sentence.split():
            tokens.extend(self.tokenizer.text_to_tokens(word))
        if self.max_seq_length > 0 and len(tokens) + 1 > self.max_seq_length:
            tokens = tokens[: self.max_seq_length - 1]
        tokens.append(self.tokenizer.sep_token)
        ids = np.asarray(self.tokenizer.tokens_to_ids(tokens), dtype=np.int64)
        return [ids, np.zeros_like(ids), np.ones_like(ids)]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, idx: int):
        return tuple(self.features[idx])

    def _collate_fn(self, batch):
        """Pad ids, segment ids and mask to the batch's longest item (mask padded with 0)."""
        longest = max(len(item[0]) for item in batch)
        ids = torch.full((len(batch), longest), self.pad_id, dtype=torch.long)
        segments = torch.zeros((len(batch), longest), dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for i, (item_ids, item_segments, item_mask, _) in enumerate(batch):
            n = len(item_ids)
            ids[i, :n] = torch.from_numpy(item_ids)
            segments[i, :n] = torch.from_numpy(item_segments)
            mask[i, :n] = torch.from_numpy(item_mask)
        labels = torch.tensor([item[3] for item in batch], dtype=torch.long)
        return ids, segments, mask, labels

    collate_fn = _collate_fn
