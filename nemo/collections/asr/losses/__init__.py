"""ASR losses."""

from nemo.collections.asr.losses.ctc import CTCLoss  # noqa: F401
