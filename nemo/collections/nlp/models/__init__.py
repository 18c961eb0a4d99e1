"""NLP models: `TextClassificationModel` and `MTEncDecModel` (resolved on first access)."""

import importlib

_EXPORTS = {
    "NLPModel": "nemo.collections.nlp.models.nlp_model",
    "TextClassificationModel": "nemo.collections.nlp.models.text_classification.text_classification_model",
    "MTEncDecModel": "nemo.collections.nlp.models.machine_translation.mt_enc_dec_model",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nemo.collections.nlp.models' has no attribute '{name}'")
