"""Utilities shared by core and collections: the NeMo logger and model helpers."""

from nemo.utils.nemo_logging import logging  # noqa: F401
