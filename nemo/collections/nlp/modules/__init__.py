"""NLP modules: encoders from Hugging Face, classification heads, NeMo's Transformer."""

import importlib

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


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nemo.collections.nlp.modules' has no attribute '{name}'")
