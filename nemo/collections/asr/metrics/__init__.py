"""ASR metrics."""

from nemo.collections.asr.metrics.wer import WER, word_error_rate, word_error_rate_detail  # noqa: F401
