"""`TranslationDataset`: parallel text files, tokenized and packed into batches of about
`tokens_in_batch` tokens (each item of the dataset is a whole batch)."""

from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from nemo.core.classes.dataset import Dataset
from nemo.core.neural_types import ChannelType, LabelsType, MaskType, NeuralType


def _read_lines(path: str) -> List[str]:
    with open(path, "rb") as f:
        return [line.decode("utf-8").rstrip("\n") for line in f]


def pack_data_into_batches(src_ids: List[List[int]], tgt_ids: List[List[int]], tokens_in_batch: int) -> List[List[int]]:
    """Greedy, deterministic packing of sentence indices (NeMo's rule, spec B2.5).

    Sentences are bucketed by source length and sorted by (target length, index) in each bucket;
    the next item comes from the current or the next bucket, whichever grows the batch's padded
    size `max_src + max_tgt` less. A batch over `tokens_in_batch` keeps a multiple of 8 items
    (or all, if fewer than 9) and carries the rest into the next batch.
    """
    buckets: Dict[int, List[int]] = defaultdict(list)
    for i, s in enumerate(src_ids):
        buckets[len(s)].append(i)
    lengths = sorted(buckets)
    for length in lengths:
        buckets[length].sort(key=lambda i: (len(tgt_ids[i]), i))
    queues = [list(buckets[length]) for length in lengths]
    src_len = lambda i: len(src_ids[i])  # noqa: E731
    tgt_len = lambda i: len(tgt_ids[i])  # noqa: E731

    batches: List[List[int]] = [[]]
    s_max = t_max = 0
    b = 0
    while b < len(queues):
        if not queues[b]:
            b += 1
            continue
        take = b
        if b + 1 < len(queues) and queues[b + 1]:
            cost_here = max(s_max, src_len(queues[b][0])) + max(t_max, tgt_len(queues[b][0]))
            cost_next = max(s_max, src_len(queues[b + 1][0])) + max(t_max, tgt_len(queues[b + 1][0]))
            if cost_next < cost_here:
                take = b + 1
        i = queues[take].pop(0)
        batches[-1].append(i)
        s_max, t_max = max(s_max, src_len(i)), max(t_max, tgt_len(i))
        n = len(batches[-1])
        if n * (s_max + t_max) > tokens_in_batch:
            keep = 8 * ((n - 1) // 8) or n
            carried = batches[-1][keep:]
            batches[-1] = batches[-1][:keep]
            batches.append(carried)
            s_max = max((src_len(j) for j in carried), default=0)
            t_max = max((tgt_len(j) for j in carried), default=0)
    if not batches[-1]:
        batches.pop()
    return batches


class TranslationDataset(Dataset):
    """Items are whole batches: `src_ids, src_mask, tgt_ids, tgt_mask, labels` (B, L) each."""

    @property
    def output_types(self):
        return {
            "src_ids": NeuralType(("B", "T"), ChannelType()),
            "src_mask": NeuralType(("B", "T"), MaskType()),
            "tgt_ids": NeuralType(("B", "T"), ChannelType()),
            "tgt_mask": NeuralType(("B", "T"), MaskType()),
            "labels": NeuralType(("B", "T"), LabelsType()),
        }

    def __init__(self, dataset_src: str, dataset_tgt: str, tokens_in_batch: int = 1024, clean: bool = False,
                 max_seq_length: int = 512, min_seq_length: int = 1, max_seq_length_diff: int = 512,
                 max_seq_length_ratio: int = 512, cache_ids: bool = False, cache_data_per_node: bool = False,
                 use_cache: bool = False, reverse_lang_direction: bool = False, prepend_id: Optional[int] = None,
                 add_bos_eos_to_encoder: bool = True):
        self.src_file, self.tgt_file = dataset_src, dataset_tgt
        self.tokens_in_batch = tokens_in_batch
        self.clean = clean
        self.max_seq_length, self.min_seq_length = max_seq_length, min_seq_length
        self.max_seq_length_diff, self.max_seq_length_ratio = max_seq_length_diff, max_seq_length_ratio
        self.reverse_lang_direction = reverse_lang_direction
        self.prepend_id = prepend_id
        self.add_bos_eos_to_encoder = add_bos_eos_to_encoder
        self.batches: List[Dict[str, np.ndarray]] = []

    def batchify(self, tokenizer_src, tokenizer_tgt) -> None:
        src_lines, tgt_lines = _read_lines(self.src_file), _read_lines(self.tgt_file)
        if len(src_lines) != len(tgt_lines):
            raise ValueError(f"{self.src_file} has {len(src_lines)} lines but {self.tgt_file} has {len(tgt_lines)}")
        src = [self._ids(tokenizer_src, line, self.add_bos_eos_to_encoder) for line in src_lines]
        tgt = [self._ids(tokenizer_tgt, line, True) for line in tgt_lines]
        if self.clean:
            src, tgt = self._clean(src, tgt)
        if not src:
            raise ValueError(f"{self.src_file}: no sentence pairs left after cleaning")
        packed = pack_data_into_batches(src, tgt, self.tokens_in_batch)
        self.batches = [self._pad([src[i] for i in b], tokenizer_src.pad_id, [tgt[i] for i in b], tokenizer_tgt.pad_id) for b in packed]
        self.src_pad_id, self.tgt_pad_id = tokenizer_src.pad_id, tokenizer_tgt.pad_id

    @staticmethod
    def _ids(tokenizer, line: str, wrap: bool) -> List[int]:
        ids = tokenizer.text_to_ids(line)
        return [tokenizer.bos_id] + ids + [tokenizer.eos_id] if wrap else ids

    def _clean(self, src, tgt) -> Tuple[list, list]:
        keep_s, keep_t = [], []
        for s, t in zip(src, tgt):
            ls, lt = len(s), len(t)
            if not (self.min_seq_length <= ls <= self.max_seq_length and self.min_seq_length <= lt <= self.max_seq_length):
                continue
            if abs(ls - lt) > self.max_seq_length_diff:
                continue
            ratio = max(ls - 2, 1) / max(lt - 2, 1)
            if ratio > self.max_seq_length_ratio or ratio < 1 / self.max_seq_length_ratio:
                continue
            keep_s.append(s)
            keep_t.append(t)
        return keep_s, keep_t

    @staticmethod
    def _pad(src, src_pad, tgt, tgt_pad) -> Dict[str, np.ndarray]:
        def pad(rows, value):
            out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=np.int64)
            for i, r in enumerate(rows):
                out[i, : len(r)] = r
            return out

        return {"src": pad(src, src_pad), "tgt": pad(tgt, tgt_pad)}

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, idx: int):
        src, tgt = self.batches[idx]["src"], self.batches[idx]["tgt"]
        src_pad, tgt_pad = self.src_pad_id, self.tgt_pad_id
        if self.reverse_lang_direction:
            src, tgt, src_pad, tgt_pad = tgt, src, tgt_pad, src_pad
        if self.prepend_id is not None:
            src = np.concatenate([np.full((src.shape[0], 1), self.prepend_id, dtype=np.int64), src], axis=1)
        src_mask = (src != src_pad).astype(np.int32)
        tgt_in, labels = tgt[:, :-1], tgt[:, 1:]
        tgt_mask = (tgt_in != tgt_pad).astype(np.int32)
        return src, src_mask, tgt_in, tgt_mask, labels

    def collate_fn(self, batch):
        """The loader uses batch_size=1: strip that axis and return LongTensors."""
        (item,) = batch
        return tuple(torch.from_numpy(np.ascontiguousarray(x)).long() for x in item)
