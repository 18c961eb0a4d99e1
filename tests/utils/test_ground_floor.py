"""`nemo.utils` is the ground floor (issue 16 item 1): it imports nothing from `nemo.core`, and holds the exceptions."""

import ast
from pathlib import Path

import nemo.utils

UTILS = Path(nemo.utils.__file__).parent


def _imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            if node.module == "nemo":
                yield from (f"nemo.{alias.name}" for alias in node.names)


def test_nemo_utils_imports_nothing_from_nemo_core():
    offenders = sorted(f"{p.relative_to(UTILS.parent.parent)}: {m}" for p in UTILS.rglob("*.py")
                       for m in _imported_modules(p) if m == "nemo.core" or m.startswith("nemo.core."))
    assert offenders == []


def test_exceptions_live_in_nemo_utils_and_old_paths_keep_working():
    from nemo.utils import exceptions
    from nemo.utils.exceptions import NeMoBaseException

    import nemo.core
    import nemo.core.classes.exceptions as old

    for name in exceptions.__all__:
        assert getattr(nemo.core, name) is getattr(exceptions, name) is getattr(old, name)
    assert issubclass(exceptions.UnsafeTargetError, NeMoBaseException)


def test_split_modules_keep_their_old_import_paths():
    from nemo.core import PretrainedModelInfo, allowed_targets, safe_instantiate
    from nemo.core.classes import common, pretrained, targets
    from nemo.utils.model_utils import resolve_subclass_pretrained_model_info

    assert common.PretrainedModelInfo is pretrained.PretrainedModelInfo is PretrainedModelInfo
    for name in ("safe_instantiate", "check_targets", "import_class_by_path", "is_target_allowed",
                 "register_allowed_target_prefix", "allowed_targets", "ALLOWED_TARGET_PREFIXES"):
        assert getattr(common, name) is getattr(targets, name)
    assert safe_instantiate is targets.safe_instantiate and allowed_targets is targets.allowed_targets
    assert pretrained.resolve_subclass_pretrained_model_info is resolve_subclass_pretrained_model_info
