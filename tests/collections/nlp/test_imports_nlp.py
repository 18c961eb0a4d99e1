"""`import nemo.collections.nlp` is cheap; transformers and sacrebleu load only where used; the
NLP collection imports no other collection."""

import json
import os
import re
import subprocess
import sys

NLP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "nemo/collections/nlp")


def modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_collection_is_lazy():
    mods = modules_after("import nemo.collections.nlp")
    assert not {"torch", "transformers", "sacrebleu", "nemo.collections.nlp.models"} & mods


def test_heavy_dependencies_imported_only_inside_functions():
    """(lightning's torchmetrics may import transformers by itself; our modules never do at import time)"""
    import ast

    for root, _, files in os.walk(NLP):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in tree.body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    assert not any(n.split(".")[0] in ("transformers", "sacrebleu", "sentencepiece", "onnxruntime") for n in names), path


def test_no_imports_of_other_collections():
    pattern = re.compile(r"nemo\.collections\.(asr|tts)")
    for root, _, files in os.walk(NLP):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    assert not pattern.search(f.read()), os.path.join(root, name)
