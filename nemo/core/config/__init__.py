"""Config helpers: `hydra_runner`, optimizer/scheduler parameter dataclasses, model config dataclasses.

Names resolve lazily from their modules so importing this package stays cheap.
"""

import importlib

# Eager, so the package attribute is the decorator even after the submodule of the same name is imported.
from nemo.core.config.hydra_runner import hydra_runner  # noqa: F401

_MODULES = (
    "nemo.core.config.hydra_runner",
    "nemo.core.config.optimizers",
    "nemo.core.config.schedulers",
    "nemo.core.config.modelPT",
    "nemo.core.config.pytorch_lightning",
)


def __getattr__(name: str):
    for module_name in _MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue
            raise
        if hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'nemo.core.config' has no attribute '{name}'")
