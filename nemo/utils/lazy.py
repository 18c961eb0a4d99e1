"""Lazy package attributes: names (or sub-packages) are imported on first access, keeping imports cheap."""

import importlib
import sys
from typing import Callable, Dict, Iterable, List, Tuple


def lazy_exports(
    package: str, exports: Dict[str, str] = None, subpackages: Iterable[str] = ()
) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """`(__getattr__, __dir__)` for `package`.

    `exports` maps a name to the module defining it (absolute, or relative like `.audio_to_text`);
    `subpackages` are modules of the package returned as attributes. Resolved values are cached.
    """
    exports = dict(exports or {})
    subpackages = tuple(subpackages)

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
        elif name in subpackages:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports) | set(subpackages))

    return __getattr__, __dir__
