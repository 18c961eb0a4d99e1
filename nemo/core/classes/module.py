"""NeuralModule: an `nn.Module` with NeMo's freeze/unfreeze helpers and type declarations."""

from contextlib import contextmanager
from typing import Dict, Optional

from torch import nn

from nemo.core.classes.common import FileIO, Serialization, Typing


class NeuralModule(nn.Module, Typing, Serialization, FileIO):
    """Base class for building blocks (encoders, decoders, preprocessors) of NeMo models."""

    @property
    def num_weights(self) -> int:
        """Number of trainable parameter elements (frozen weights are not counted, as in NeMo)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def input_example(self, max_batch: Optional[int] = None, max_dim: Optional[int] = None):
        """Example inputs for export; modules that export override this."""
        return None

    def freeze(self) -> None:
        """Turn off gradients for every parameter (remembering the old flags) and switch to eval."""
        self._frozen_grad_map: Dict[str, bool] = {n: p.requires_grad for n, p in self.named_parameters()}
        for p in self.parameters():
            p.requires_grad = False
        self.eval()

    def unfreeze(self, partial: bool = False) -> None:
        """Turn gradients back on; with `partial=True` restore the flags saved by `freeze()`."""
        if partial and getattr(self, "_frozen_grad_map", None) is None:
            raise ValueError("unfreeze(partial=True) called on a module that was never frozen")
        saved = getattr(self, "_frozen_grad_map", None) or {}
        for name, p in self.named_parameters():
            p.requires_grad = saved.get(name, True) if partial else True
        self._frozen_grad_map = None
        self.train()

    @contextmanager
    def as_frozen(self):
        """Context manager: frozen inside, previous grad flags and train mode restored after."""
        training = self.training
        self.freeze()
        try:
            yield self
        finally:
            self.unfreeze(partial=True)
            self.train(training)
