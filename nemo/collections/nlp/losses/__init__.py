"""NLP losses."""

from nemo.collections.nlp.losses.cross_entropy import CrossEntropyLoss, SmoothedCrossEntropyLoss  # noqa: F401
