"""TTS collection: `import nemo.collections.tts as nemo_tts; nemo_tts.models.FastPitchModel`.

Sub-packages load on first attribute access so the import itself is cheap.
"""

import importlib

_SUBPACKAGES = ("data", "g2p", "losses", "models", "modules", "parts")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"nemo.collections.tts.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nemo.collections.tts' has no attribute '{name}'")
