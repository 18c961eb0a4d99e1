"""ASR collection: `import nemo.collections.asr as nemo_asr; nemo_asr.models.EncDecCTCModel`.

Sub-packages load on first attribute access so the import itself is cheap.
"""

from nemo.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, subpackages=("data", "losses", "metrics", "models", "modules", "parts"))
