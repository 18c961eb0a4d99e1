"""ASR collection: `import nemo.collections.asr as nemo_asr; nemo_asr.models.EncDecCTCModel`.

Sub-packages load on first attribute access so the import itself is cheap.
"""

import importlib

_SUBPACKAGES = ("data", "losses", "metrics", "models", "modules", "parts")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"nemo.collections.asr.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nemo.collections.asr' has no attribute '{name}'")
