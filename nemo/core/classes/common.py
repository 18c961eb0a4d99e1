"""Model interfaces: type declarations, config <-> object (`Serialization`), config files (`FileIO`) and `Model`.

The `_target_` allow-list and instantiation live in `nemo.core.classes.targets` (re-exported here);
`PretrainedModelInfo` lives beside the catalogue in `nemo.core.classes.pretrained`.
"""

import contextlib
import functools
import inspect
from abc import ABC
from typing import Any, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from nemo.core.classes.mixins.hf_io_mixin import HuggingFaceFileIO
from nemo.core.classes.pretrained import PretrainedModelInfo, catalogue_for_class, resolve_pretrained
from nemo.core.classes.targets import (  # noqa: F401  (their public path in the first version)
    ALLOWED_TARGET_PREFIXES,
    allowed_targets,
    check_targets,
    import_class_by_path,
    instantiate,
    is_target_allowed,
    register_allowed_target_prefix,
    resolve_target,
    safe_instantiate,
)
from nemo.utils.model_utils import config_from_container


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
        """Instantiate from a config: its `_target_` if present (allow-listed), else `cls` itself.

        Every `_target_` in the config is resolved and checked before anything is built.
        """
        if isinstance(config, dict):
            config = OmegaConf.create(config)
        if isinstance(config, DictConfig):
            config = config_from_container(OmegaConf.to_container(config, resolve=True))
            check_targets(config, where=f"{cls.__name__}.from_config_dict")
        if isinstance(config, DictConfig) and "_target_" in config:
            target_cls = resolve_target(config._target_, where=f"{cls.__name__}.from_config_dict: key `_target_`")
            if isinstance(target_cls, type) and issubclass(cls, target_cls):
                target_cls = cls
            if _accepts_cfg(target_cls):
                return _construct(target_cls, config, trainer)
            return instantiate(config, where=f"{cls.__name__}.from_config_dict")
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
    try:
        params = inspect.signature(target.__init__).parameters
    except (TypeError, ValueError):
        return False
    return "cfg" in params


def _construct(target_cls: Any, config: Any, trainer: Any):
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


class Model(Typing, Serialization, FileIO, HuggingFaceFileIO):
    """Interface every NeMo model implements (ModelPT is the Lightning implementation).

    Pretrained checkpoints come from the catalogue data files (`nemo.core.classes.pretrained`),
    the Hugging Face Hub or local paths; Hub upload and model cards come from `HuggingFaceFileIO`.
    """

    @classmethod
    def list_available_models(cls) -> Optional[List[PretrainedModelInfo]]:
        """Pretrained checkpoints published for this class (from the catalogue data files)."""
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
