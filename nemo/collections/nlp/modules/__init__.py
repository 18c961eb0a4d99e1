"""NLP modules: encoders from Hugging Face, classification heads, NeMo's Transformer."""

from nemo.utils.lazy import lazy_exports

_EXPORTS = {
    "get_lm_model": "nemo.collections.nlp.modules.common.lm_utils",
    "SequenceClassifier": "nemo.collections.nlp.modules.common.classifiers",
    "TokenClassifier": "nemo.collections.nlp.modules.common.classifiers",
    "MultiLayerPerceptron": "nemo.collections.nlp.modules.common.classifiers",
    "get_tokenizer": "nemo.collections.nlp.modules.common.tokenizer_utils",
    "get_nmt_tokenizer": "nemo.collections.nlp.modules.common.tokenizer_utils",
    "TokenizerConfig": "nemo.collections.nlp.modules.common.tokenizer_utils",
    "AutoTokenizer": "nemo.collections.nlp.modules.common.hf_tokenizer",
    "TransformerEncoderNM": "nemo.collections.nlp.modules.common.transformer.transformer",
    "TransformerDecoderNM": "nemo.collections.nlp.modules.common.transformer.transformer",
    "BeamSearchSequenceGenerator": "nemo.collections.nlp.modules.common.transformer.transformer_generators",
    "GreedySequenceGenerator": "nemo.collections.nlp.modules.common.transformer.transformer_generators",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
