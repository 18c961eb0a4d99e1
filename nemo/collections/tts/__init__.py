"""TTS collection: `import nemo.collections.tts as nemo_tts; nemo_tts.models.FastPitchModel`.

Sub-packages load on first attribute access so the import itself is cheap.
"""

from nemo.utils.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, subpackages=("data", "g2p", "losses", "models", "modules", "parts"))
