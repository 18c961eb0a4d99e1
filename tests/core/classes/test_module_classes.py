"""Every nn.Module class in the package survives `.to()`, `.double()` and `restore_from(map_location=...)` (issue 12 item 6).

SpecAugment once named a helper `_apply(spec, start, width, axis)`, shadowing the method `nn.Module.to()` calls.
"""

import importlib
import inspect
import pkgutil
import sys

import numpy as np
import pytest
import torch

import nemo
from tests.conftest import GOLDEN

# Module methods a subclass may legitimately redefine with its own signature.
_FREE = {"__init__", "forward", "extra_repr", "__repr__", "__dir__", "__getattr__", "__setattr__", "__delattr__",
         "__setstate__", "__getstate__", "__call__", "_call_impl", "_wrapped_call_impl"}


def _all_module_classes():
    """Import every module of the package; return its nn.Module subclasses and the modules that failed to import."""
    failed = {}
    for info in pkgutil.walk_packages(nemo.__path__, "nemo.", onerror=lambda name: failed.setdefault(name, "walk")):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:  # an optional third-party package this machine lacks
            if (e.name or "").startswith("nemo"):
                raise
            failed[info.name] = f"{type(e).__name__}: {e}"
    classes = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("nemo.") or module is None:
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module) and obj.__module__.startswith("nemo."):
                classes.add(obj)
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}"), failed


@pytest.fixture(scope="module")
def module_classes():
    classes, failed = _all_module_classes()
    assert len(classes) > 50, "the walk should find the package's modules"
    return classes, failed


def _accepts(override, base) -> bool:
    """True when `override` can be called every way `base` can (same names, no extra required parameters)."""
    try:
        mine, theirs = inspect.signature(override).parameters, inspect.signature(base).parameters
    except (TypeError, ValueError):
        return True
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in mine.values())
    var_kw = any(p.kind is p.VAR_KEYWORD for p in mine.values())
    for name, p in theirs.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name not in mine and not (var_kw or (var_pos and p.kind is not p.KEYWORD_ONLY)):
            return False
    extra = [n for n, p in mine.items() if n not in theirs and p.default is p.empty
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return not extra


def test_no_module_class_shadows_a_torch_module_method_incompatibly(module_classes):
    classes, failed = module_classes
    bad = []
    for cls in classes:
        for name, value in vars(cls).items():
            base = getattr(torch.nn.Module, name, None)
            if name in _FREE or base is None or not callable(base) or isinstance(value, property):
                continue
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if callable(fn) and not _accepts(fn, base):
                bad.append(f"{cls.__module__}.{cls.__qualname__}.{name}{inspect.signature(fn)}")
    assert bad == [], f"these override torch.nn.Module methods with other signatures: {bad}"
    print(f"{len(classes)} module classes checked; not importable here: {failed}")


def test_module_classes_that_build_without_arguments_move_and_cast(module_classes):
    classes, _ = module_classes
    moved = 0
    for cls in classes:
        if inspect.isabstract(cls):
            continue
        try:
            params = inspect.signature(cls).parameters.values()
        except (TypeError, ValueError):
            continue
        if any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            continue
        try:
            module = cls()
        except Exception:  # needs real arguments after all (e.g. a config or a file): not a move/cast question
            continue
        module.to("cpu").double().float().cpu()
        moved += 1
    assert moved >= 20, moved


def test_nemo_written_spec_augment_model_restores_to_cpu_and_moves():
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(str(GOLDEN / "specaug_ctc.nemo"), map_location="cpu")
    assert model.spec_augmentation is not None and model.cfg.spec_augment.time_masks == 2
    model = model.to("cpu").double().float().eval()
    io = np.load(GOLDEN / "specaug_ctc_io.npz")
    with torch.no_grad():
        logprobs = model(input_signal=torch.from_numpy(io["signal"]), input_signal_length=torch.tensor([8000]))[0]
    np.testing.assert_allclose(logprobs.numpy(), io["logprobs"], atol=1e-4)
    model.train()
    spec = torch.randn(2, 16, 40)
    out = model.spec_augmentation(input_spec=spec, length=torch.tensor([40, 30]))
    assert out.shape == spec.shape and (out == 0).any()


@pytest.mark.parametrize("name", ["quartznet_small_nemo.nemo", "specaug_ctc.nemo"])
def test_restored_models_move_with_map_location(name):
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(str(GOLDEN / name), map_location=torch.device("cpu"))
    assert next(model.parameters()).device.type == "cpu"
    model.to("cpu").double()
    assert next(model.parameters()).dtype == torch.float64


def test_the_signature_check_catches_the_old_spec_augment_helper():
    class Old(torch.nn.Module):
        def _apply(self, spec, start, width, axis):
            return spec

    assert not _accepts(Old._apply, torch.nn.Module._apply)
    with pytest.raises(TypeError):
        Old().to("cpu")
    assert _accepts(lambda self, fn, recurse=True: None, torch.nn.Module._apply)
