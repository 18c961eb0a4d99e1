"""Collections stand apart: each imports only itself, `common`, `nemo.core`, `nemo.utils` and outside packages.

The one crossing allowed is the hybrid ASR model, which nests a TTS model. An import anywhere in a file counts
(function-level ones too), and so does a string outside docstrings naming another collection's module (a dynamic
import or a `_target_`). `nemo.core` and `nemo.utils` import no collection.
"""

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

REPO = Path(__file__).resolve().parents[1]
ALLOWED_CROSSINGS = {("nemo/collections/asr/models/hybrid_asr_tts_models.py", "tts")}
SHARED = "common"


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstrings(tree: ast.AST) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def references(path: Path, root: Path) -> Iterator[Tuple[int, str]]:
    """(line, module) for every import in `path` (relative ones resolved) and every module-path string."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            if target == "nemo.collections":  # `from nemo.collections import tts`
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if node.value.startswith("nemo.collections."):
                yield node.lineno, node.value


def _collection(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["nemo", "collections"] else ""


def violations(root: Path) -> List[str]:
    """`file:line: imports <module>` for each reference that crosses a boundary under `root/nemo`."""
    found = []
    collections_dir = root / "nemo" / "collections"
    for path in sorted(collections_dir.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        own = path.relative_to(collections_dir).parts[0]
        if own.endswith(".py"):  # nemo/collections/__init__.py
            continue
        for line, module in sorted(set(references(path, root))):
            other = _collection(module)
            if not other or other == own or (rel, other) in ALLOWED_CROSSINGS:
                continue
            if other == SHARED and own != SHARED:
                continue
            found.append(f"{rel}:{line}: {own} reaches into {other} ({module})")
    for floor in ("core", "utils"):
        for path in sorted((root / "nemo" / floor).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                for name in names:
                    if name == "nemo.collections" or name.startswith("nemo.collections."):
                        found.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: {floor} imports {name}")
    return found


def test_collections_import_only_themselves_common_core_and_utils():
    assert violations(REPO) == []


def test_the_allowed_crossing_is_still_there():
    hybrid = REPO / "nemo/collections/asr/models/hybrid_asr_tts_models.py"
    assert any(_collection(m) == "tts" for _, m in references(hybrid, REPO))


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_checker_reports_each_kind_of_crossing(tmp_path):
    for pkg in ("nemo/core", "nemo/utils", "nemo/collections/asr/models", "nemo/collections/tts/data",
                "nemo/collections/common/tokenizers", "nemo/collections/nlp"):
        _write(tmp_path, f"{pkg}/__init__.py", "")
    _write(tmp_path, "nemo/collections/asr/models/ok.py",
           '"""Docs may name nemo.collections.tts.models."""\n'
           "import torch\nfrom nemo.core import ModelPT\nfrom nemo.collections.common.parts import rnn\n"
           "from nemo.collections.asr.modules import conv_asr\nfrom . import hybrid_asr_tts_models\n")
    _write(tmp_path, "nemo/collections/asr/models/hybrid_asr_tts_models.py",
           "def build():\n    from nemo.collections.tts.models import FastPitchModel\n")
    _write(tmp_path, "nemo/collections/tts/data/bad.py",
           "def load():\n    from nemo.collections.asr.parts.preprocessing.segment import resample\n"
           "from ...nlp import models\n"
           "TARGET = 'nemo.collections.asr.modules.ConvASREncoder'\n")
    _write(tmp_path, "nemo/collections/common/tokenizers/bad.py",
           "from nemo.collections import tts\n")
    _write(tmp_path, "nemo/collections/nlp/bad.py", "import nemo.collections.asr.models as asr_models\n")
    _write(tmp_path, "nemo/core/bad.py", "def f():\n    import nemo.collections.asr\n")
    found = violations(tmp_path)
    assert found == [
        "nemo/collections/common/tokenizers/bad.py:1: common reaches into tts (nemo.collections.tts)",
        "nemo/collections/nlp/bad.py:1: nlp reaches into asr (nemo.collections.asr.models)",
        "nemo/collections/tts/data/bad.py:2: tts reaches into asr (nemo.collections.asr.parts.preprocessing.segment)",
        "nemo/collections/tts/data/bad.py:3: tts reaches into nlp (nemo.collections.nlp)",
        "nemo/collections/tts/data/bad.py:4: tts reaches into asr (nemo.collections.asr.modules.ConvASREncoder)",
        "nemo/core/bad.py:2: core imports nemo.collections.asr",
    ]
