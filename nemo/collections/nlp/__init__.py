"""NLP collection: `import nemo.collections.nlp as nemo_nlp; nemo_nlp.models.TextClassificationModel`.

Sub-packages load on first attribute access, so importing the collection costs nothing;
`transformers` and `sacrebleu` are imported only by the code that uses them.
"""

import importlib

_SUBPACKAGES = ("data", "losses", "metrics", "models", "modules", "parts")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"nemo.collections.nlp.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nemo.collections.nlp' has no attribute '{name}'")
