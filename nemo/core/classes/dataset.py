"""Dataset base classes with NeMo's type declarations."""

from dataclasses import dataclass
from typing import Optional

import torch.utils.data

from nemo.core.classes.common import Serialization, Typing


class Dataset(torch.utils.data.Dataset, Typing, Serialization):
    """Map-style dataset; subclasses provide `__len__`, `__getitem__` and optionally `collate_fn`."""

    def collate_fn(self, batch):
        return torch.utils.data.dataloader.default_collate(batch)


class IterableDataset(torch.utils.data.IterableDataset, Typing, Serialization):
    """Iterable dataset; subclasses provide `__iter__` and optionally `collate_fn`."""

    def collate_fn(self, batch):
        return torch.utils.data.dataloader.default_collate(batch)


@dataclass
class DatasetConfig:
    """Fields every dataset config section has."""

    batch_size: int = 32
    drop_last: bool = False
    shuffle: bool = False
    num_workers: Optional[int] = 0
    pin_memory: bool = True
