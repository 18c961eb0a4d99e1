"""Every import path the README files and the user's request (the seed, nemo-models.rst) use resolves.

README paths are read from the files themselves; the seed is not part of this repository, so its paths are
listed here as it writes them (checked against the seed on 2026-12-03).
"""

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
READMES = [REPO / "README.md", *sorted((REPO / "examples").glob("*/README.md"))]

SEED_PATHS = [
    "nemo.collections.asr.models.EncDecCTCModel.from_pretrained",
    "nemo.collections.asr.models.EncDecCTCModel.list_available_models",
    "nemo.collections.asr.models.EncDecCTCModel.restore_from",
    "nemo.collections.nlp.models.TextClassificationModel",
    "nemo.collections.nlp.models.nlp_model.NLPModel",
    "nemo.collections.nlp.modules.common.lm_utils.get_lm_model",
    "nemo.collections.nlp.modules.common.SequenceClassifier",
    "nemo.collections.nlp.models.machine_translation.mt_enc_dec_config.AAYNBaseConfig",
    "nemo.core.classes.exportable.Exportable",
    "nemo.core.classes.ModelPT",
    "nemo.core.classes.mixins.hf_io_mixin.HuggingFaceFileIO.push_to_hf_hub",
    "nemo.core.optim.optimizers.AVAILABLE_OPTIMIZERS",
    "nemo.core.optim.optimizers.register_optimizer",
    "nemo.core.optim.novograd.Novograd",
    "nemo.core.config.optimizers.NovogradParams",
    "nemo.core.optim.lr_scheduler.AVAILABLE_SCHEDULERS",
    "nemo.core.optim.lr_scheduler.register_scheduler",
    "nemo.core.config.schedulers.CosineAnnealingParams",
    "nemo.utils.exp_manager.exp_manager",
    "nemo.utils.exp_manager.ExpManagerConfig",
]

# The seed prints these registry entries (name -> class path).
SEED_SCHEDULERS = ["WarmupPolicy", "WarmupHoldPolicy", "SquareAnnealing", "CosineAnnealing", "NoamAnnealing",
                   "WarmupAnnealing", "InverseSquareRootAnnealing", "SquareRootAnnealing", "PolynomialDecayAnnealing",
                   "PolynomialHoldDecayAnnealing"]

_RUN_MODULE = re.compile(r"python -m ([\w.]+)")
_PROSE = re.compile(r"`(nemo\.[\w.]+)`")
_IMPORT = re.compile(r"^\s*import\s+([\w.]+)(?:\s+as\s+(\w+))?\s*$", re.M)
_FROM = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+([\w, ]+)$", re.M)
_DOTTED = re.compile(r"(?<![\w.])((?:nemo|[a-z_]+)\.[A-Za-z_][\w.]*)")


def resolve(path: str):
    """Import the longest module prefix of `path`, then follow attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as e:
            if e.name is not None and not ".".join(parts[:cut]).startswith(e.name):
                raise  # a dependency of the module is missing: a real failure
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(path)


def _blocks(text: str):
    """(language, body) for each fenced block, and ("prose", text outside the fences)."""
    blocks, prose, lang, body = [], [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, body = line[3:].strip() or "text", []
            else:
                blocks.append((lang, "\n".join(body)))
                lang = None
        elif lang is None:
            prose.append(line)
        else:
            body.append(line)
    return blocks + [("prose", "\n".join(prose))]


def _python_paths(block: str):
    paths, aliases = set(), {}
    for module, alias in _IMPORT.findall(block):
        if module.split(".")[0] == "nemo":
            paths.add(module)
            aliases[alias or module] = module
    for module, names in _FROM.findall(block):
        if module.split(".")[0] == "nemo":
            paths.update(f"{module}.{name.strip()}" for name in names.split(",") if name.strip())
    for dotted in _DOTTED.findall(block):
        head, _, rest = dotted.partition(".")
        if head in aliases:
            paths.add(f"{aliases[head]}.{rest}".rstrip("."))
        elif head == "nemo":
            paths.add(dotted.rstrip("."))
    return paths


def readme_paths():
    """Imports in the READMEs' python blocks and their dotted uses, `python -m` modules, and `nemo.*` names in prose."""
    paths = set()
    for readme in READMES:
        for lang, body in _blocks(readme.read_text(encoding="utf-8")):
            if lang == "python":
                paths |= _python_paths(body)
            elif lang == "prose":
                paths.update(m.rstrip(".") for m in _PROSE.findall(body))
            else:
                paths.update(m for m in _RUN_MODULE.findall(body) if m.split(".")[0] == "nemo")
    return sorted(paths)


def test_readmes_show_imports():
    assert "nemo.collections.asr.models.EncDecCTCModel.restore_from" in readme_paths()
    assert "nemo.core.config.hydra_runner" in readme_paths()
    assert "nemo.collections.asr.data.synth" in readme_paths()
    assert "nemo.collections.asr.models.hybrid_asr_tts_models.ASRWithTTSModel" in readme_paths()


@pytest.mark.parametrize("path", readme_paths())
def test_readme_path_resolves(path):
    assert resolve(path) is not None


@pytest.mark.parametrize("path", SEED_PATHS)
def test_seed_path_resolves(path):
    assert resolve(path) is not None


def test_seed_registry_listing():
    from nemo.core.optim.lr_scheduler import AVAILABLE_SCHEDULERS
    from nemo.core.optim.optimizers import AVAILABLE_OPTIMIZERS

    novograd = AVAILABLE_OPTIMIZERS["novograd"]
    assert f"{novograd.__module__}.{novograd.__qualname__}" == "nemo.core.optim.novograd.Novograd"
    for name in SEED_SCHEDULERS:
        cls = AVAILABLE_SCHEDULERS[name]
        assert f"{cls.__module__}.{cls.__qualname__}" == f"nemo.core.optim.lr_scheduler.{name}"


def test_resolver_rejects_missing_names():
    with pytest.raises(AttributeError):
        resolve("nemo.core.NoSuchThing")
    with pytest.raises(ModuleNotFoundError):
        resolve("nemo_nonexistent.module")
