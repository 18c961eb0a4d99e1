"""SaveRestoreConnector: the `.nemo` save and restore pipelines, and artifact registration.

ModelPT delegates here; archive bytes are handled by `archive.py`, weights by `weights.py`.
"""

import contextlib
import copy
import hashlib
import inspect
import os
import re
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes.targets import allowed_targets as _allowed_targets
from nemo.core.classes.targets import check_targets, is_target_allowed, resolve_target
from nemo.utils.exceptions import (
    ArchiveError,
    ArtifactError,
    ConfigError,
    ModelClassError,
    NeMoBaseException,
    UnsafeTargetError,
)
from nemo.core.connectors import restore_context
from nemo.core.connectors.restored_config import read_config, resolve_restored
from nemo.core.connectors.archive import CONFIG_NAME, WEIGHTS_NAME, NemoArchive, write_archive, write_folder
from nemo.core.connectors.weights import load_into, read_mapped_state_dict, read_state_dict, skip_init
from nemo.utils import logging
from nemo.utils.model_utils import ArtifactItem, ArtifactPathType, rewrite_legacy_container

_HASH_PREFIX = re.compile(r"^[0-9a-f]{32}_")


def _content_name(path: str, basename: str) -> str:
    """Archive name of an artifact: 32 hex digits from its content, `_`, its original basename."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return f"{digest.hexdigest()}_{_HASH_PREFIX.sub('', basename)}"


def _set_path(container: dict, dotted: str, value: Any) -> None:
    node = container
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


class SaveRestoreConnector:
    """Writes and reads `.nemo` archives (or extracted folders) for ModelPT models."""

    def __init__(self) -> None:
        self._model_config_yaml = CONFIG_NAME
        self._model_weights_ckpt = WEIGHTS_NAME
        self._model_extracted_dir: Optional[str] = None
        self._pack_nemo_file = True

    # NeMo exposes these as settable properties.
    model_config_yaml = property(lambda self: self._model_config_yaml, lambda self, v: setattr(self, "_model_config_yaml", v))
    model_weights_ckpt = property(lambda self: self._model_weights_ckpt, lambda self, v: setattr(self, "_model_weights_ckpt", v))
    model_extracted_dir = property(lambda self: self._model_extracted_dir, lambda self, v: setattr(self, "_model_extracted_dir", v))
    pack_nemo_file = property(lambda self: self._pack_nemo_file, lambda self, v: setattr(self, "_pack_nemo_file", bool(v)))

    # ------------------------------------------------------------------ save
    def save_to(self, model, save_path: str) -> None:
        """Write `model` to `save_path` (a `.nemo` file, or a folder when `pack_nemo_file=False`)."""
        config, artifacts = self.collect_config_and_artifacts(model)
        files = {CONFIG_NAME: OmegaConf.to_yaml(OmegaConf.create(config)).encode("utf-8")}

        def write_weights(f) -> None:
            self._save_state_dict_to_disk(model.state_dict(), f)

        if self.pack_nemo_file:
            write_archive(save_path, files, artifacts, write_weights)
        else:
            folder = save_path if os.path.isdir(save_path) or not os.path.splitext(save_path)[1] else os.path.dirname(save_path)
            write_folder(folder or ".", files, artifacts, write_weights)

    def collect_config_and_artifacts(self, model) -> Tuple[dict, Dict[str, str]]:
        """The config to write (children's configs and `nemo:` artifact names filled in) and the
        artifact files keyed by their member names."""
        config = rewrite_legacy_container(OmegaConf.to_container(model.cfg, resolve=True))
        modules = list(model.named_nemo_modules())
        for attr, config_path, sub in modules:
            if attr:
                _set_path(config, config_path, rewrite_legacy_container(OmegaConf.to_container(sub.cfg, resolve=True)))
        artifacts: Dict[str, str] = {}
        for _, config_path, sub in modules:
            for key, item in (getattr(sub, "artifacts", None) or {}).items():
                full_key = f"{config_path}.{key}" if config_path else key
                if not os.path.isfile(item.path):
                    raise ArtifactError(f"Artifact {full_key} not found at location: {item.path}")
                name = _content_name(item.path, os.path.basename(item.path))
                artifacts[name] = item.path
                _set_path(config, full_key, "nemo:" + name)
        return config, artifacts

    @staticmethod
    def _save_state_dict_to_disk(state_dict, f) -> None:
        torch.save(state_dict, f)

    # --------------------------------------------------------------- restore
    def restore_from(
        self,
        calling_cls,
        restore_path: str,
        override_config_path: Optional[Union[str, DictConfig]] = None,
        map_location: Optional[torch.device] = None,
        strict: bool = True,
        return_config: bool = False,
        trainer=None,
        validate_access_integrity: bool = True,
        allowed_targets: Iterable[str] = (),
    ):
        """Build a model from an archive: config, class from `target`, constructor, then weights."""
        archive = NemoArchive(self.model_extracted_dir or restore_path)
        conf = self.load_config(archive, override_config_path)
        if return_config:
            return conf
        with _allowed_targets(allowed_targets):
            check_targets(conf, where=archive.path, missing_ok=True)
            cls = self._resolve_class(calling_cls, conf, archive.path)
            ctx = restore_context.RestoreContext(archive, config=conf)
            init_guard = skip_init() if strict else contextlib.nullcontext()
            with restore_context.restoring(ctx), init_guard:
                instance = self._construct(cls, conf, trainer, archive.path)
        self.load_weights(instance, conf, archive, strict)
        if map_location is None:
            map_location = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        instance = instance.to(map_location)
        instance._save_restore_connector = self
        logging.info(f"Model {type(instance).__name__} was successfully restored from {archive.path}.")
        return instance

    def load_config(self, archive: NemoArchive, override_config_path=None) -> DictConfig:
        """The archive's config, or the override (YAML path relative to the CWD, or a DictConfig)."""
        if override_config_path is None:
            if not archive.has(CONFIG_NAME):
                raise ArchiveError(f"{archive.path} has no {CONFIG_NAME}: not a .nemo archive")
            where = f"{archive.path}:{CONFIG_NAME}"
            try:
                text = archive.read_bytes(CONFIG_NAME).decode("utf-8")
            except UnicodeDecodeError as e:
                raise ArchiveError(f"{where} is not UTF-8 text: {e}") from e
            try:
                conf = read_config(text, where)
            except ConfigError as e:
                raise ArchiveError(str(e)) from e
        elif isinstance(override_config_path, (DictConfig, dict)):
            conf = OmegaConf.create(copy.deepcopy(OmegaConf.to_container(OmegaConf.create(override_config_path))))
            where = "override config"
            conf = resolve_restored(conf, where)
        else:
            path = os.path.abspath(os.path.expanduser(str(override_config_path)))
            if not os.path.isfile(path):
                raise ConfigError(f"override_config_path {path} does not exist")
            try:
                with open(path, "r", encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"override_config_path {path} cannot be read: {e}") from e
            conf = read_config(text, path)
            where = path
        if not isinstance(conf, DictConfig):
            raise ConfigError(f"{where}: the model config must be a mapping, got {type(conf).__name__}")
        if "model" in conf and isinstance(conf.get("model"), DictConfig):
            conf = conf.model
        return conf

    @staticmethod
    def _resolve_class(calling_cls, conf: DictConfig, where: str):
        """The class to build: `target` when allowed and at least as specific, else the caller's."""
        from nemo.core.classes.modelPT import ModelPT

        generic = calling_cls is ModelPT or inspect.isabstract(calling_cls)
        target = conf.get("target")
        if not isinstance(target, str) or not target:
            if generic:
                raise ModelClassError(f"{where}: the config has no `target`; call restore_from on the model class")
            return calling_cls
        if not is_target_allowed(target):
            if generic:
                raise UnsafeTargetError(
                    f"{where}: refusing to import model class `{target}` (outside the allowed namespaces). "
                    "Restore through the class itself, or pass allowed_targets=[...] if you trust the file."
                )
            return calling_cls
        try:
            target_cls = resolve_target(target, where=f"{where}: key `target`")
        except ModelClassError:
            if generic:
                raise
            return calling_cls
        if not (isinstance(target_cls, type) and issubclass(target_cls, ModelPT)):
            raise ModelClassError(f"{where}: `target` {target} is not a ModelPT subclass")
        return calling_cls if issubclass(calling_cls, target_cls) else target_cls

    @staticmethod
    def _construct(cls, conf: DictConfig, trainer, where: str):
        params = inspect.signature(cls.__init__).parameters
        kwargs = {"cfg": conf}
        if "trainer" in params:
            kwargs["trainer"] = trainer
        try:
            return cls(**kwargs)
        except NeMoBaseException:
            raise
        except Exception as e:
            raise ModelClassError(f"{where}: building {cls.__name__} from the stored config failed: {type(e).__name__}: {e}") from e

    def load_weights(self, instance, conf: DictConfig, archive: NemoArchive, strict: bool) -> None:
        """Copy weights into `instance`; a connector overriding `modify_state_dict` sees them first."""
        if type(self).modify_state_dict is SaveRestoreConnector.modify_state_dict:
            load_into(instance, archive, strict=strict)
            return
        mapped = read_mapped_state_dict(archive)
        state_dict = self.modify_state_dict(conf, mapped.state_dict if mapped else read_state_dict(archive))
        self.load_instance_with_state_dict(instance, state_dict, strict)

    def modify_state_dict(self, conf: DictConfig, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Hook for subclasses to rename or drop weights before loading; returns them unchanged."""
        return state_dict

    def load_instance_with_state_dict(self, instance, state_dict, strict: bool) -> None:
        """Hook: load a (possibly modified) state dict into the model."""
        instance.load_state_dict(state_dict, strict=strict)

    # ------------------------------------------------------------- artifacts
    def register_artifact(self, model, config_path: str, src: str, verify_src_exists: bool = True) -> Optional[str]:
        """Resolve `src` to a real file, record it on `model`, and write the path into its config."""
        if src is None or src == "":
            return src
        ctx = getattr(model, "_restore_ctx", None) or restore_context.current()
        src = str(src)
        local = os.path.abspath(os.path.expanduser(src))
        from_archive = ctx is not None and ctx.archive is not None and restore_context.current() is ctx
        if src.startswith("nemo:") and ctx is not None and ctx.has(src[5:]):
            path, kind = ctx.artifact_path(src[5:]), ArtifactPathType.TAR_PATH
        elif ctx is not None and ctx.has(os.path.basename(src)):
            path, kind = ctx.artifact_path(os.path.basename(src)), ArtifactPathType.TAR_PATH
        elif from_archive and not src.startswith("nemo:"):
            # The config came from the archive: packing a local file it names would leak that file into the next save.
            msg = (
                f"artifact `{config_path}`: the config restored from {ctx.archive.path} names {src!r}, which is not "
                "a member of that archive; a restored model packs only files from its archive. To use a local "
                f"file, call model.register_artifact({config_path!r}, path) after restoring."
            )
            if verify_src_exists:
                raise ArtifactError(msg)
            logging.warning(msg)
            return None
        elif not src.startswith("nemo:") and os.path.exists(local):
            path, kind = local, ArtifactPathType.LOCAL_PATH
        else:
            where = f" (archive {ctx.archive.path})" if ctx is not None and ctx.archive is not None else ""
            msg = (
                f"artifact `{config_path}`: src path does not exist or it is not a path in nemo file{where}. "
                f"src value I got was: {src}. Absolute: {local}"
            )
            if verify_src_exists:
                raise ArtifactError(msg)
            logging.warning(msg)
            return None
        item = ArtifactItem(path=path, path_type=kind, hashed_path=src if kind is ArtifactPathType.TAR_PATH else None)
        if model.artifacts.get(config_path) is not None:
            logging.warning(f"artifact `{config_path}` was already registered; replacing it")
        model.artifacts[config_path] = item
        with open_dict(model._cfg):
            OmegaConf.update(model._cfg, config_path, path, force_add=True)
        return path
