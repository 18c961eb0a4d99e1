"""NLP models: `TextClassificationModel` and `MTEncDecModel` (resolved on first access)."""

from nemo.utils.lazy import lazy_exports

_EXPORTS = {
    "NLPModel": "nemo.collections.nlp.models.nlp_model",
    "TextClassificationModel": "nemo.collections.nlp.models.text_classification.text_classification_model",
    "MTEncDecModel": "nemo.collections.nlp.models.machine_translation.mt_enc_dec_model",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
