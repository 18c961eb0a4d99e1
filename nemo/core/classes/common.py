"""Shared building blocks: type declarations, config->object instantiation with an allow-list,
config file I/O and the pretrained-model record."""

import contextlib
import contextvars
import functools
from abc import ABC
from dataclasses import dataclass, field
from functools import total_ordering
from typing import Any, Iterable, Iterator, List, Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from nemo.core.classes.exceptions import ModelClassError, UnsafeTargetError
from nemo.core.classes.mixins.hf_io_mixin import HuggingFaceFileIO

# Namespaces whose classes a config may name with `_target_`/`target` without an explicit opt-in.
ALLOWED_TARGET_PREFIXES: List[str] = ["nemo.", "torch.nn.", "torch.optim."]
_extra_allowed: contextvars.ContextVar = contextvars.ContextVar("nemo_extra_allowed_targets", default=())


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


def is_target_allowed(target: str) -> bool:
    """True when `target` is under an allowed namespace (a prefix ending in '.' or an exact name)."""
    if not isinstance(target, str) or not target:
        return False
    for prefix in (*ALLOWED_TARGET_PREFIXES, *_extra_allowed.get()):
        if prefix.endswith(".") and target.startswith(prefix):
            return True
        if target == prefix or target.startswith(prefix + "."):
            return True
    return False


def check_targets(config: Any, where: str = "config") -> None:
    """Raise `UnsafeTargetError` if any `_target_` (or top-level `target`) in `config` is not allowed.

    Runs before anything is imported, so a config saying `_target_: os.system` never gets to run it.
    """

    def walk(node: Any, path: str) -> None:
        if isinstance(node, (DictConfig, dict)):
            items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else node.items()
            for key, value in items:
                child = f"{path}.{key}" if path else str(key)
                if key == "_target_" and isinstance(value, str) and not is_target_allowed(value):
                    raise UnsafeTargetError(
                        f"{where}: refusing to instantiate `{child}: {value}`: it is outside the allowed "
                        f"namespaces {sorted(set(ALLOWED_TARGET_PREFIXES) | set(_extra_allowed.get()))}. "
                        "If you trust this config, pass allowed_targets=[...] or call "
                        "nemo.core.classes.common.register_allowed_target_prefix()."
                    )
                walk(value, child)
        elif isinstance(node, (ListConfig, list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(config, "")


def import_class_by_path(path: str, check_allowed: bool = True):
    """Import `pkg.module.Class`; refuse names outside the allow-list before importing anything."""
    if check_allowed and not is_target_allowed(path):
        raise UnsafeTargetError(
            f"refusing to import class `{path}`: it is outside the allowed namespaces. "
            "Pass allowed_targets=[...] to restore_from, or restore through the class itself "
            "(MyModel.restore_from(...))."
        )
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ModelClassError(f"`{path}` is not a dotted path to a class")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ModelClassError(f"cannot import module `{module_name}` for class `{path}`: {e}") from e
    try:
        return getattr(module, class_name)
    except AttributeError as e:
        raise ModelClassError(f"module `{module_name}` has no class `{class_name}`") from e


def safe_instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
    """Hydra `instantiate` with every `_target_` in the tree checked against the allow-list first."""
    check_targets(config)
    from hydra.utils import instantiate

    return instantiate(config, *args, **kwargs)


def typecheck(*_args: Any, **_kwargs: Any):
    """Compatibility decorator: NeMo's runtime type checks are replaced by type hints and tests."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)

        return wrapper

    return decorator


typecheck.set_typecheck_enabled = lambda enabled=True: None
typecheck.disable_checks = contextlib.nullcontext


def is_typecheck_enabled() -> bool:
    """Runtime type checking is not part of this implementation."""
    return False


class Typing(ABC):
    """Modules declare their ports by name (`input_types`/`output_types`); export uses the names."""

    @property
    def input_types(self) -> Optional[dict]:
        return None

    @property
    def output_types(self) -> Optional[dict]:
        return None


class Serialization(ABC):
    """Build objects from configs (`_target_`) and turn them back into configs."""

    @classmethod
    def from_config_dict(cls, config: Any, trainer: Any = None):
        """Instantiate from a config: its `_target_` if present (allow-listed), else `cls` itself."""
        from nemo.utils.model_utils import maybe_update_config_version

        if isinstance(config, dict):
            config = OmegaConf.create(config)
        if isinstance(config, DictConfig):
            config = OmegaConf.create(OmegaConf.to_container(config, resolve=True))
            config = maybe_update_config_version(config)
            OmegaConf.set_struct(config, True)
        if isinstance(config, DictConfig) and "_target_" in config:
            check_targets(config)
            target_cls = import_class_by_path(config._target_)
            if isinstance(target_cls, type) and issubclass(cls, target_cls):
                target_cls = cls
            if _accepts_cfg(target_cls):
                return _construct(target_cls, config, trainer)
            return safe_instantiate(config)
        return _construct(cls, config, trainer)

    def to_config_dict(self) -> DictConfig:
        """The object's config, resolved and in struct mode."""
        cfg = getattr(self, "_cfg", None)
        if cfg is None:
            raise NotImplementedError(f"{type(self).__name__} has no stored config")
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
        OmegaConf.set_struct(cfg, True)
        return cfg


def _accepts_cfg(target: Any) -> bool:
    import inspect

    try:
        params = inspect.signature(target.__init__).parameters
    except (TypeError, ValueError):
        return False
    return "cfg" in params


def _construct(target_cls: Any, config: Any, trainer: Any):
    import inspect

    params = inspect.signature(target_cls.__init__).parameters
    if "cfg" in params:
        if "trainer" in params:
            return target_cls(cfg=config, trainer=trainer)
        return target_cls(cfg=config)
    kwargs = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else dict(config)
    kwargs.pop("_target_", None)
    return target_cls(**kwargs)


class FileIO(ABC):
    """YAML config files in and out."""

    @classmethod
    def from_config_file(cls, path2yaml_file: str):
        """Build an object from a YAML config file."""
        return cls.from_config_dict(OmegaConf.load(path2yaml_file))

    def to_config_file(self, path2yaml_file: str) -> None:
        """Write the object's resolved config as UTF-8 YAML."""
        cfg = self.to_config_dict()
        with open(path2yaml_file, "w", encoding="utf-8") as f:
            f.write(OmegaConf.to_yaml(cfg, resolve=True))


@total_ordering
@dataclass
class PretrainedModelInfo:
    """One published checkpoint: its name, description, location and (optionally) class, aliases,
    size and sha256."""

    pretrained_model_name: str
    description: str
    location: str
    class_: Any = None
    aliases: Optional[List[str]] = None
    size_bytes: Optional[int] = field(default=None, compare=False)
    sha256: Optional[str] = field(default=None, compare=False)

    def __repr__(self) -> str:
        text = (
            f"{self.__class__.__name__}(\n\tpretrained_model_name={self.pretrained_model_name},\n"
            f"\tdescription={self.description},\n\tlocation={self.location}"
        )
        if self.class_ is not None:
            text += f",\n\tclass_={self.class_}"
        return text + "\n)"

    def __hash__(self) -> int:
        return hash(self.location)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PretrainedModelInfo):
            return NotImplemented
        return hash(self) == hash(other) or self.pretrained_model_name == other.pretrained_model_name

    def __lt__(self, other: "PretrainedModelInfo") -> bool:
        return self.pretrained_model_name < other.pretrained_model_name


class Model(Typing, Serialization, FileIO, HuggingFaceFileIO):
    """Interface every NeMo model implements (ModelPT is the Lightning implementation).

    Pretrained checkpoints come from the catalogue data files (`nemo.core.classes.pretrained`),
    the Hugging Face Hub or local paths; Hub upload and model cards come from `HuggingFaceFileIO`.
    """

    @classmethod
    def list_available_models(cls) -> Optional[List[PretrainedModelInfo]]:
        """Pretrained checkpoints published for this class (from the catalogue data files)."""
        from nemo.core.classes.pretrained import catalogue_for_class

        return catalogue_for_class(cls)

    @classmethod
    def get_available_model_names(cls) -> List[str]:
        """Names accepted by `from_pretrained` for this class."""
        return [info.pretrained_model_name for info in (cls.list_available_models() or [])]

    @classmethod
    def from_pretrained(
        cls,
        model_name: str,
        refresh_cache: bool = False,
        override_config_path: Optional[str] = None,
        map_location: Any = None,
        strict: bool = True,
        return_config: bool = False,
        trainer: Any = None,
        save_restore_connector: Any = None,
        return_model_file: Optional[bool] = False,
    ):
        """Load a pretrained model by catalogue name, Hugging Face repo id (`org/name`) or local path.

        Catalogue names are downloaded once into `$NEMO_CACHE_DIR` (default `~/.cache/nemo/models`),
        resumably and checked against the catalogue's sha256; Hub repos go through
        `huggingface_hub` (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE` honoured). Cached models load
        without network access. `refresh_cache=True` downloads again; `return_model_file=True`
        returns the local file/folder instead of a model; the other arguments go to `restore_from`.
        """
        from nemo.core.classes.pretrained import resolve_pretrained

        path, class_ = resolve_pretrained(cls, model_name, refresh_cache=refresh_cache)
        if return_model_file:
            return path
        return class_.restore_from(
            restore_path=path,
            override_config_path=override_config_path,
            map_location=map_location,
            strict=strict,
            return_config=return_config,
            trainer=trainer,
            save_restore_connector=save_restore_connector,
        )


__all__: Sequence[str] = [
    "ALLOWED_TARGET_PREFIXES",
    "FileIO",
    "Model",
    "PretrainedModelInfo",
    "Serialization",
    "Typing",
    "allowed_targets",
    "check_targets",
    "import_class_by_path",
    "is_target_allowed",
    "register_allowed_target_prefix",
    "safe_instantiate",
    "typecheck",
]
