"""`_target_` in configs: which classes and functions a config may name, and building them.

Every entry point goes through `check_targets` (the whole tree, before anything is called) and
`instantiate`: `restore_from`, `ModelPT.__init__` (so `load_from_checkpoint`, `init_from_*` and hydra
scripts given a restored config too), `from_config_dict`, `safe_instantiate` (TTS tokenizers and
datasets, optimizer and scheduler parameter configs). Hydra's own locator is never used.

The rule for a target string T (`resolve_target`):

1. T is a dotted name of identifiers, none starting with `__` (no dunders: `__init__`, `__globals__`);
2. T is allowed *as a name*: under an allowed prefix (`nemo.`, `torch.nn.`, `torch.optim.` or one the
   caller added; a prefix without a trailing dot also matches the exact name) and, for the built-in
   prefixes, not under `DENIED_TARGET_PREFIXES` (file, network and process helpers no model config
   names). Nothing is imported before this holds;
3. the module part M is found by importing T's components one by one, each next one only while the
   current module is a package holding a submodule of that name (`importlib.util.find_spec` on the
   package's path): no module outside T's own dotted path is ever imported;
4. the rest Q (one or more components) is looked up without traversing attributes: the first in M's
   namespace (its `__dict__`, or a package's lazy-export `__getattr__` for nemo packages), every further
   one in the previous class's own `__dict__`, which must be a class (nested class);
5. the object found is a class, or (when Q is one component) a plain or builtin function; never a
   module, method, descriptor or instance;
6. the object is *defined* under an allowed prefix: `f"{obj.__module__}.{obj.__qualname__}"` passes rule 2,
   and `obj.__qualname__ == Q`. So T spells either the defining path exactly, or a re-export of it by
   name from a module under an allowed prefix (`torch.optim.Adam` is defined in `torch.optim.adam`,
   `nemo.collections.asr.modules.ConvASREncoder` in `...modules.conv_asr`): a re-export never reaches
   anything that is not itself an allowed target.

So `nemo.core.connectors.archive.Path.write_text` (pathlib's), `torch.nn.functional.torch.hub.load`
(a module on the way), `nemo.os.system` and `builtins.eval` (not allowed names) are all refused.
"""

import contextlib
import contextvars
import functools
import importlib
import importlib.util
import inspect
import re
import sys
import types
from typing import Any, Iterable, Iterator, List, Optional, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf

from nemo.utils.exceptions import ConfigError, ModelClassError, NeMoBaseException, UnsafeTargetError

# Namespaces whose classes a config may name with `_target_`/`target` without an explicit opt-in.
ALLOWED_TARGET_PREFIXES: List[str] = ["nemo.", "torch.nn.", "torch.optim."]
# Inside the built-in prefixes: helpers that write files, download or start processes; no model config names them.
DENIED_TARGET_PREFIXES: Tuple[str, ...] = (
    "nemo.utils.",
    "nemo.core.connectors.",
    "nemo.core.config.hydra_runner",
    "nemo.collections.asr.data.synth",
    "torch.nn.modules.module.register_",
)
_BUILTIN_PREFIXES = tuple(ALLOWED_TARGET_PREFIXES)
_extra_allowed: contextvars.ContextVar = contextvars.ContextVar("nemo_extra_allowed_targets", default=())
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = ("_target_", "_args_", "_partial_", "_recursive_", "_convert_")
_CONVERT = ("none", "partial", "all", "object")


def register_allowed_target_prefix(prefix: str) -> None:
    """Trust every `_target_` under `prefix` (e.g. `"my_project."`) for the rest of the process."""
    prefix = _normalise_prefix(prefix)
    if prefix not in ALLOWED_TARGET_PREFIXES:
        ALLOWED_TARGET_PREFIXES.append(prefix)


@contextlib.contextmanager
def allowed_targets(prefixes: Iterable[str]) -> Iterator[None]:
    """Trust the given prefixes (or exact dotted names) inside the `with` block only."""
    token = _extra_allowed.set(tuple(_extra_allowed.get()) + tuple(_normalise_prefix(p) for p in prefixes))
    try:
        yield
    finally:
        _extra_allowed.reset(token)


def _normalise_prefix(prefix: str) -> str:
    prefix = str(prefix).strip()
    if not prefix:
        raise ValueError("an allowed target prefix must not be empty")
    return prefix


def _under(name: str, prefix: str) -> bool:
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def _allowed_list() -> List[str]:
    return sorted(set(ALLOWED_TARGET_PREFIXES) | set(_extra_allowed.get()))


def is_target_allowed(target: str) -> bool:
    """Rule 2 (names only, nothing imported): `target` is under an allowed prefix and not denied."""
    if not isinstance(target, str) or not _well_formed(target):
        return False
    for prefix in (*ALLOWED_TARGET_PREFIXES, *_extra_allowed.get()):
        if _under(target, prefix):
            if prefix in _BUILTIN_PREFIXES and any(_under(target, d) for d in DENIED_TARGET_PREFIXES):
                continue
            return True
    return False


def _well_formed(target: str) -> bool:
    parts = target.split(".")
    return len(parts) >= 2 and all(_IDENT.match(p) and not p.startswith("__") for p in parts)


def _refuse(target: Any, where: str, why: str) -> UnsafeTargetError:
    return UnsafeTargetError(
        f"{where}: refusing `_target_: {target}`: {why}. Allowed namespaces: {_allowed_list()}. "
        "If you trust this config, pass allowed_targets=[...] or call "
        "nemo.core.classes.common.register_allowed_target_prefix()."
    )


def _import_path(target: str, where: str) -> Tuple[types.ModuleType, List[str]]:
    """Rule 3: import T's leading components while they name (sub)modules; return the module and the rest."""
    parts = target.split(".")
    try:
        module = importlib.import_module(parts[0])
    except ImportError as e:
        raise ModelClassError(f"{where}: cannot import `{parts[0]}` for `{target}`: {e}") from e
    i = 1
    while i < len(parts) and hasattr(module, "__path__") and _has_submodule(module, parts[i]):
        name = f"{module.__name__}.{parts[i]}"
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise ModelClassError(f"{where}: cannot import module `{name}` for `{target}`: {e}") from e
        i += 1
    return module, parts[i:]


def _has_submodule(package: types.ModuleType, name: str) -> bool:
    full = f"{package.__name__}.{name}"
    if full in sys.modules:
        return True
    try:
        return importlib.util.find_spec(full) is not None
    except (ImportError, ValueError):
        return False


def _lookup_in_module(module: types.ModuleType, name: str) -> Any:
    """Rule 4: a module-level name, from the namespace itself or a nemo package's lazy exports."""
    namespace = vars(module)
    if name in namespace:
        return namespace[name]
    lazy = namespace.get("__getattr__")
    if lazy is not None and module.__name__.split(".")[0] == "nemo":
        try:
            return lazy(name)
        except AttributeError:
            return None
    return None


def resolve_target(target: Any, where: str = "config", check_allowed: bool = True) -> Any:
    """The class or function `target` names, by the rule in this module's docstring; raises otherwise."""
    if isinstance(target, type) or inspect.isfunction(target) or inspect.isbuiltin(target):
        _check_defined(target, _defining_path(target), where, target, check_allowed)
        return target
    if not isinstance(target, str) or not _well_formed(target):
        raise _refuse(target, where, "it is not a dotted name of a class or function") if check_allowed else \
            ModelClassError(f"{where}: `{target}` is not a dotted path to a class")
    if check_allowed and not is_target_allowed(target):
        raise _refuse(target, where, "it is outside the allowed namespaces")
    module, rest = _import_path(target, where)
    if not rest:
        raise _refuse(target, where, "it names a module, not a class or function")
    obj = _lookup_in_module(module, rest[0])
    for i, part in enumerate(rest[1:], start=1):
        if not isinstance(obj, type):
            raise _refuse(target, where, f"`{'.'.join(rest[:i])}` in module `{module.__name__}` is not a class")
        obj = vars(obj).get(part)
    if obj is None:
        raise ModelClassError(f"{where}: module `{module.__name__}` has no class or function `{'.'.join(rest)}` "
                              f"(for `_target_: {target}`)")
    is_class = isinstance(obj, type)
    is_function = len(rest) == 1 and (inspect.isfunction(obj) or inspect.isbuiltin(obj))
    if not (is_class or is_function):
        kind = "a method or class attribute" if len(rest) > 1 else f"a {type(obj).__name__}"
        raise _refuse(target, where, f"it names {kind}, not a class or module-level function")
    if getattr(obj, "__qualname__", None) != ".".join(rest):
        raise _refuse(target, where, f"it resolves to `{_defining_path(obj)}`, which is not what it spells")
    _check_defined(obj, _defining_path(obj), where, target, check_allowed)
    return obj


def _defining_path(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"


def _check_defined(obj: Any, path: str, where: str, target: Any, check_allowed: bool) -> None:
    if check_allowed and not is_target_allowed(path):
        raise _refuse(target, where, f"the object it names is defined as `{path}`, outside the allowed namespaces")


def import_class_by_path(path: str, check_allowed: bool = True):
    """The class (or function) at dotted `path`, resolved by `resolve_target`'s rule."""
    return resolve_target(path, where=f"class path `{path}`", check_allowed=check_allowed)


# ------------------------------------------------------------------------ checking a whole tree
def check_targets(config: Any, where: str = "config", missing_ok: bool = False) -> None:
    """Resolve every `_target_` in `config` (and check `_args_`/`_partial_`/...) before anything is built.

    Raises `UnsafeTargetError`/`ModelClassError`/`ConfigError` naming the key; imports only the
    modules on allowed targets' own paths and calls nothing. `missing_ok` tolerates allowed names
    that do not exist here (a config section this model never builds); building one still fails.
    """
    _walk(config, "", where, missing_ok)


def _items(node: Any):
    if isinstance(node, DictConfig):
        return node.items_ex(resolve=False)
    return node.items()


def _walk(node: Any, path: str, where: str, missing_ok: bool) -> None:
    if isinstance(node, (DictConfig, dict)):
        items = list(_items(node))
        keys = {k for k, _ in items}
        if "_target_" in keys:
            _check_reserved(dict(items), path, where)
        for key, value in items:
            child = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                try:
                    resolve_target(value, where=f"{where}: key `{child}`")
                except UnsafeTargetError:
                    raise
                except ModelClassError:
                    if not missing_ok:
                        raise
            else:
                _walk(value, child, where, missing_ok)
    elif isinstance(node, (ListConfig, list, tuple)):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", where, missing_ok)


def _check_reserved(node: dict, path: str, where: str) -> None:
    def key(name: str) -> str:
        return f"{path}.{name}" if path else name

    if "_args_" in node and not isinstance(node["_args_"], (list, tuple, ListConfig)):
        raise ConfigError(f"{where}: key `{key('_args_')}` must be a list, got {type(node['_args_']).__name__}")
    for flag in ("_partial_", "_recursive_"):
        if flag in node and not isinstance(node[flag], bool):
            raise ConfigError(f"{where}: key `{key(flag)}` must be true or false, got {node[flag]!r}")
    if "_convert_" in node and str(node["_convert_"]).lower() not in _CONVERT:
        raise ConfigError(f"{where}: key `{key('_convert_')}` must be one of {_CONVERT}, got {node['_convert_']!r}")


# ------------------------------------------------------------------------ building
def instantiate(config: Any, *args: Any, where: str = "config", **kwargs: Any) -> Any:
    """Build `config` like Hydra's `instantiate` (`_target_`, `_args_`, `_partial_`, `_recursive_`,
    `_convert_`, keyword overrides), after `check_targets` has passed on all of it."""
    if config is None:
        return None
    if isinstance(config, (DictConfig, ListConfig)):
        config = OmegaConf.to_container(config, resolve=True)
    if isinstance(config, dict) and kwargs:
        config = {**config, **kwargs}
    check_targets(config, where)
    if isinstance(config, dict) and "_target_" in config:
        return _build(config, "", where, "none", True, extra_args=args)
    if args:
        raise ConfigError(f"{where}: positional arguments need a `_target_` to pass them to")
    return _build(config, "", where, "none", True)


def _build(node: Any, path: str, where: str, convert: str, recursive: bool, extra_args: tuple = ()) -> Any:
    if isinstance(node, dict):
        convert = str(node.get("_convert_", convert)).lower()
        recursive = node.get("_recursive_", recursive)
        if "_target_" not in node:
            built = {k: _build(v, _join(path, k), where, convert, recursive) if recursive else v for k, v in node.items()}
            return _wrap(built, convert)
        target = resolve_target(node["_target_"], where=f"{where}: key `{_join(path, '_target_')}`")
        call_args = [_build(v, f"{_join(path, '_args_')}[{i}]", where, convert, recursive) if recursive else v
                     for i, v in enumerate(node.get("_args_", []))]
        call_kwargs = {k: (_build(v, _join(path, k), where, convert, recursive) if recursive else _wrap_plain(v, convert))
                       for k, v in node.items() if k not in _KEYS}
        call_args = [*extra_args, *call_args]
        if node.get("_partial_", False):
            return functools.partial(target, *call_args, **call_kwargs)
        try:
            return target(*call_args, **call_kwargs)
        except Exception as e:
            if not isinstance(e, NeMoBaseException):
                e.add_note(f"while building `{_join(path, '_target_')}: {node['_target_']}` from {where}")
            raise
    if isinstance(node, list):
        return _wrap([_build(v, f"{path}[{i}]", where, convert, recursive) for i, v in enumerate(node)], convert)
    return node


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _wrap(value: Any, convert: str) -> Any:
    """Containers handed to a target: OmegaConf nodes for `_convert_: none` (Hydra's default), else plain."""
    if convert == "none" and isinstance(value, (dict, list)):
        return OmegaConf.create(value, flags={"allow_objects": True})
    return value


def _wrap_plain(value: Any, convert: str) -> Any:
    return _wrap(value, convert) if isinstance(value, (dict, list)) else value


def safe_instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
    """`instantiate` under the allow-list (the name kept for callers of the first version)."""
    return instantiate(config, *args, **kwargs)


__all__ = [
    "ALLOWED_TARGET_PREFIXES",
    "DENIED_TARGET_PREFIXES",
    "allowed_targets",
    "check_targets",
    "import_class_by_path",
    "instantiate",
    "is_target_allowed",
    "register_allowed_target_prefix",
    "resolve_target",
    "safe_instantiate",
]
