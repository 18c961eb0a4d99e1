"""NeMo's `nemo.collections.nlp.modules.common` names: encoder factory, classification heads, tokenizer factory."""

from nemo.utils.lazy import lazy_exports

_EXPORTS = {
    "get_lm_model": "nemo.collections.nlp.modules.common.lm_utils",
    "SequenceClassifier": "nemo.collections.nlp.modules.common.classifiers",
    "TokenClassifier": "nemo.collections.nlp.modules.common.classifiers",
    "get_tokenizer": "nemo.collections.nlp.modules.common.tokenizer_utils",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
