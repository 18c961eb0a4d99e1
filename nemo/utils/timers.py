"""`NamedTimer`: wall-clock timers by name, reduced over the last `buffer_size` measurements."""

import time
from typing import Dict, List

__all__ = ["NamedTimer"]


class NamedTimer:
    """Start and stop timers by name; `get(name)` returns the mean (or sum, min, max, none=last) in seconds."""

    _REDUCTIONS = {
        "mean": lambda xs: sum(xs) / len(xs),
        "sum": sum,
        "min": min,
        "max": max,
        "none": lambda xs: xs[-1],
    }

    def __init__(self, reduction: str = "mean", sync_cuda: bool = False, buffer_size: int = 1):
        if reduction not in self._REDUCTIONS:
            raise ValueError(f"Unknown reduction {reduction!r}; choose from {sorted(self._REDUCTIONS)}")
        self.reduction = reduction
        self.sync_cuda = sync_cuda
        self.buffer_size = buffer_size
        self._started: Dict[str, float] = {}
        self._measured: Dict[str, List[float]] = {}

    def _sync(self) -> None:
        if self.sync_cuda:
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()

    def start(self, name: str) -> None:
        if name in self._started:
            raise RuntimeError(f"Timer {name!r} was already started")
        self._sync()
        self._started[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        if name not in self._started:
            raise RuntimeError(f"Timer {name!r} was not started")
        self._sync()
        elapsed = time.perf_counter() - self._started.pop(name)
        buffer = self._measured.setdefault(name, [])
        buffer.append(elapsed)
        if self.buffer_size > 0:
            del buffer[: -self.buffer_size]

    def active(self, name: str) -> bool:
        return name in self._started

    def get(self, name: str) -> float:
        values = self._measured.get(name)
        if not values:
            raise KeyError(f"Timer {name!r} has no measurement")
        return float(self._REDUCTIONS[self.reduction](values))

    def reset(self, name: str | None = None) -> None:
        if name is None:
            self._started.clear()
            self._measured.clear()
        else:
            self._started.pop(name, None)
            self._measured.pop(name, None)

    def export(self) -> Dict[str, float]:
        return {name: self.get(name) for name in self._measured if self._measured[name]}
