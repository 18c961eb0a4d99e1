"""Pieces shared by collections: tokenizers and text preprocessing (loaded on first access)."""

from nemo.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, subpackages=("parts", "tokenizers"))
