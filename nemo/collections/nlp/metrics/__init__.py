"""NLP metrics."""

from nemo.collections.nlp.metrics.classification_report import ClassificationReport  # noqa: F401
