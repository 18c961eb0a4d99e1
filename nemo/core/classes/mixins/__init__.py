"""Mixins shared by model classes. `huggingface_hub` is only imported when a Hub method runs."""

from nemo.core.classes.mixins.hf_io_mixin import HuggingFaceFileIO

__all__ = ["HuggingFaceFileIO"]
