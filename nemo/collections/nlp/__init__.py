"""NLP collection: `import nemo.collections.nlp as nemo_nlp; nemo_nlp.models.TextClassificationModel`.

Sub-packages load on first attribute access, so importing the collection costs nothing;
`transformers` and `sacrebleu` are imported only by the code that uses them.
"""

from nemo.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, subpackages=("data", "losses", "metrics", "models", "modules", "parts"))
