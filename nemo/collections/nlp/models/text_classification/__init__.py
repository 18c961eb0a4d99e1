"""Text classification with a BERT-family encoder."""

from nemo.collections.nlp.models.text_classification.text_classification_model import TextClassificationModel  # noqa: F401
