"""nemo.core: ModelPT, NeuralModule, Exportable, `.nemo` save/restore and the error types.

Everything in `nemo.core.classes` is re-exported here, resolved lazily on first use.
"""

from nemo.core import classes as _classes

__all__ = list(_classes.__all__)


def __getattr__(name: str):
    if name in _classes._EXPORTS:
        return getattr(_classes, name)
    raise AttributeError(f"module 'nemo.core' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(__all__))
