"""Model mixins for the ASR collection."""

from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin  # noqa: F401
