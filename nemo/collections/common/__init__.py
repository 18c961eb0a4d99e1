"""Pieces shared by collections: tokenizers and text preprocessing (loaded on first access)."""

import importlib

_SUBPACKAGES = ("parts", "tokenizers")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"nemo.collections.common.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nemo.collections.common' has no attribute '{name}'")
