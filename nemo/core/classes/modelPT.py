"""ModelPT: the base of every NeMo model, a LightningModule that carries its whole recipe.

It is a facade: archives live in `SaveRestoreConnector`, optimizers in `nemo.core.optim`,
restore context in `restore_context`, multi-loader bookkeeping in `dataloaders`.
"""

import contextlib
import copy
from abc import abstractmethod
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import lightning.pytorch as pl
from lightning.fabric.utilities.data import AttributeDict
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes import dataloaders
from nemo.core.classes.common import Model
from nemo.core.classes.targets import check_targets
from nemo.core.classes.exceptions import ArtifactError, ConfigError, NeMoBaseException
from nemo.core.connectors import restore_context
from nemo.core.connectors.restored_config import resolve_restored
from nemo.core.connectors.save_restore_connector import SaveRestoreConnector
from nemo.package_info import __version__
from nemo.utils import logging
from nemo.utils.model_utils import ArtifactItem, config_from_container, has_legacy_keys


def _to_dictconfig(cfg: Any, restoring: bool = False) -> DictConfig:
    """Accept a DictConfig, a dict or a dataclass instance; return a resolved struct-mode DictConfig.

    While restoring (a `.nemo`, a `.ckpt`) the config came from a file: resolver calls are refused
    first, and every `_target_` in it is checked before the model builds anything.
    """
    if cfg is not None and not isinstance(cfg, (DictConfig, dict)) and hasattr(cfg, "__dataclass_fields__"):
        cfg = OmegaConf.structured(cfg)
    if isinstance(cfg, dict):
        cfg = OmegaConf.create(cfg)
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"cfg constructor argument must be of type DictConfig/dict/dataclass but got {type(cfg).__name__}")
    if restoring:
        ctx = restore_context.current()
        if ctx is not None and ctx.config is cfg and cfg._get_parent() is None \
                and not has_legacy_keys(OmegaConf.to_container(cfg, resolve=False)):
            ctx.config = None  # adopted once: read_config already checked and resolved it, restore_from its targets
            OmegaConf.set_struct(cfg, True)
            return cfg
        cfg = resolve_restored(cfg, "the restored model config")  # resolved now: the copy below need not resolve
    cfg = config_from_container(OmegaConf.to_container(cfg, resolve=not restoring))
    check_targets(cfg, where="the model config", missing_ok=True)
    return cfg


class ModelPT(pl.LightningModule, Model):
    """Base class of NeMo models: config in, Lightning training, `.nemo` save/restore out."""

    _save_restore_connector = SaveRestoreConnector()

    def __init_subclass__(cls, **kwargs) -> None:
        cls._save_restore_connector = SaveRestoreConnector()
        super().__init_subclass__(**kwargs)

    def __init__(self, cfg: DictConfig, trainer: Optional[pl.Trainer] = None):
        if trainer is not None and not isinstance(trainer, pl.Trainer):
            raise ValueError(f"trainer constructor argument must be a lightning.pytorch.Trainer or None, got {type(trainer)}")
        super().__init__()
        cfg = _to_dictconfig(cfg, restoring=restore_context.current() is not None)
        if "model" in cfg:
            raise ConfigError("Creating model config node is forbidden due to collision problem when loading from checkpoint.")
        with open_dict(cfg):
            if "target" not in cfg:
                cfg.target = f"{type(self).__module__}.{type(self).__qualname__}"
            if "nemo_version" not in cfg:
                cfg.nemo_version = __version__
        self._cfg = cfg
        self._restore_ctx = restore_context.current()
        self._nemo_submodule_name_to_config_field: Dict[str, str] = {}
        self.artifacts: Dict[str, ArtifactItem] = {}
        self._log_hyperparams = True
        self._train_dl = self._validation_dl = self._test_dl = None
        self._optimizer_param_groups = self._optimizer = self._scheduler = None
        self._val_dl_idx = self._test_dl_idx = 0
        self._validation_names = self._test_names = None
        self._validation_step_outputs = self._test_step_outputs = None
        self._save_restore_connector = SaveRestoreConnector()
        self.set_trainer(trainer)
        self.setup_before_data()
        self._sync_hparams()
        self._hparams_initial = copy.deepcopy(self._hparams)
        if self.is_being_restored:
            for section, setup in (("train_ds", "training"), ("validation_ds", "validation"), ("test_ds", "test")):
                if self._cfg.get(section) is not None:
                    logging.warning(f"Restored model: call setup_{setup}_data() to use {section}.")
        else:
            self._setup_data_from_config()

    # ------------------------------------------------------------------ config
    @property
    def cfg(self) -> DictConfig:
        """The model config (struct mode: add keys under `open_dict`). Edits don't rebuild the model."""
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: DictConfig) -> None:
        self._cfg = cfg if isinstance(cfg, DictConfig) else _to_dictconfig(cfg)
        self._sync_hparams()

    def _sync_hparams(self) -> None:
        # Stored as plain containers so Lightning checkpoints load with weights_only=True.
        self._hparams = AttributeDict(cfg=OmegaConf.to_container(self._cfg, resolve=True))

    @property
    def hparams(self):
        self._sync_hparams()
        return super().hparams

    def _update_dataset_config(self, dataset_name: str, config: Optional[Union[DictConfig, dict]]) -> None:
        """Store the data config a `setup_*_data` call used, so saved configs reflect it."""
        if dataset_name not in ("train", "validation", "test"):
            raise ValueError(f"dataset_name must be one of train, validation, test; got {dataset_name!r}")
        if config is None or getattr(self, "_multi_dataset_mode", False):
            return
        config = OmegaConf.create(config) if isinstance(config, dict) else config
        with open_dict(self._cfg):
            self._cfg[f"{dataset_name}_ds"] = config
        self.cfg = self._cfg

    # ----------------------------------------------------------------- trainer
    @property
    def trainer(self) -> Optional[pl.Trainer]:
        return getattr(self, "_trainer", None)

    @trainer.setter
    def trainer(self, trainer: Optional[pl.Trainer]) -> None:
        pl.LightningModule.trainer.fset(self, trainer)

    def set_trainer(self, trainer: Optional[pl.Trainer]) -> None:
        """Attach a trainer and record the world size it implies."""
        self.trainer = trainer
        self.set_world_size(trainer)

    def set_world_size(self, trainer: Optional[pl.Trainer]) -> None:
        self.world_size = 1
        if isinstance(trainer, pl.Trainer) and trainer.num_devices and trainer.num_nodes:
            self.world_size = trainer.num_devices * trainer.num_nodes

    # -------------------------------------------------------------------- data
    def setup_before_data(self) -> None:
        """Hook: build what the data loaders need (tokenizers, child models) before `__init__` sets up data.

        `ModelPT.__init__` calls it once, restoring too, after `self.cfg`, the trainer and artifact
        registration are ready and before `train_ds`/`validation_ds`/`test_ds` are set up. Call `super()` first.
        """

    @abstractmethod
    def setup_training_data(self, train_data_config: Union[DictConfig, Dict]):
        """Build `self._train_dl` from a data config."""

    @abstractmethod
    def setup_validation_data(self, val_data_config: Union[DictConfig, Dict]):
        """Build `self._validation_dl` from a data config."""

    def setup_test_data(self, test_data_config: Union[DictConfig, Dict]):
        """Build `self._test_dl`; models with a `test_ds` section must implement it."""
        raise NotImplementedError(f"{type(self).__name__} has a test_ds config but does not implement setup_test_data")

    def _setup_data_from_config(self) -> None:
        def wanted(section: str) -> bool:
            ds = self._cfg.get(section)
            return ds is not None and not (isinstance(ds, DictConfig) and ds.get("defer_setup", False))

        if wanted("train_ds"):
            self.setup_training_data(self._cfg.train_ds)
        if wanted("validation_ds"):
            self.setup_multiple_validation_data(val_data_config=self._cfg.validation_ds)
        if wanted("test_ds"):
            self.setup_multiple_test_data(test_data_config=self._cfg.test_ds)

    def setup(self, stage: Optional[str] = None) -> None:
        """Lightning hook: set up loaders deferred with `defer_setup` (or skipped at restore)."""
        if stage == "fit" and self._train_dl is None and self._cfg.get("train_ds") is not None:
            self.setup_training_data(self._cfg.train_ds)
        if stage in ("fit", "validate") and not self._validation_dl and self._cfg.get("validation_ds") is not None:
            self.setup_multiple_validation_data(self._cfg.validation_ds)
        if stage == "test" and not self._test_dl and self._cfg.get("test_ds") is not None:
            self.setup_multiple_test_data(self._cfg.test_ds)

    def setup_multiple_validation_data(self, val_data_config: Union[DictConfig, Dict]) -> None:
        """Set up one or several validation loaders (a list of manifests gives one each)."""
        dataloaders.setup_multiple(self, "validation", val_data_config)

    def setup_multiple_test_data(self, test_data_config: Union[DictConfig, Dict]) -> None:
        """Set up one or several test loaders (a list of manifests gives one each)."""
        dataloaders.setup_multiple(self, "test", test_data_config)

    def train_dataloader(self):
        return self._train_dl

    def val_dataloader(self):
        return self._validation_dl if self._validation_dl is not None else []

    def test_dataloader(self):
        return self._test_dl if self._test_dl is not None else []

    @property
    def validation_step_outputs(self) -> list:
        if self._validation_step_outputs is None:
            self._validation_step_outputs = dataloaders.empty_outputs(self._validation_dl)
        return self._validation_step_outputs

    @validation_step_outputs.setter
    def validation_step_outputs(self, value: list) -> None:
        self._validation_step_outputs = value

    @property
    def test_step_outputs(self) -> list:
        if self._test_step_outputs is None:
            self._test_step_outputs = dataloaders.empty_outputs(self._test_dl)
        return self._test_step_outputs

    @test_step_outputs.setter
    def test_step_outputs(self, value: list) -> None:
        self._test_step_outputs = value

    def on_validation_epoch_end(self, sync_metrics: bool = False) -> Optional[Dict[str, Any]]:
        return dataloaders.epoch_end(self, "val", sync_metrics)

    def on_test_epoch_end(self) -> Optional[Dict[str, Any]]:
        return dataloaders.epoch_end(self, "test", False)

    def multi_validation_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        """Aggregate one validation loader's step outputs into `{'val_loss': ..., 'log': {...}}`."""
        logging.warning(f"{type(self).__name__} does not implement multi_validation_epoch_end; nothing is logged.")

    def multi_test_epoch_end(self, outputs: List[Dict[str, torch.Tensor]], dataloader_idx: int = 0):
        """Aggregate one test loader's step outputs into `{'test_loss': ..., 'log': {...}}`."""
        logging.warning(f"{type(self).__name__} does not implement multi_test_epoch_end; nothing is logged.")

    def get_validation_dataloader_prefix(self, dataloader_idx: int = 0) -> str:
        return self._validation_names[dataloader_idx]

    def get_test_dataloader_prefix(self, dataloader_idx: int = 0) -> str:
        return self._test_names[dataloader_idx]

    def on_train_end(self) -> None:
        self._validation_step_outputs = self._test_step_outputs = None

    def on_test_end(self) -> None:
        self._test_step_outputs = None

    # ------------------------------------------------------------ optimization
    def setup_optimization(self, optim_config: Optional[Union[DictConfig, Dict]] = None, optim_kwargs: Optional[Dict] = None):
        """Build the optimizer and scheduler from `cfg.optim` (or the given config)."""
        from nemo.core.optim.setup import setup_optimization

        self._optimizer, self._scheduler = setup_optimization(self, optim_config, optim_kwargs)
        return self._optimizer, self._scheduler

    def configure_optimizers(self):
        self.setup_optimization()
        if self._scheduler is None:
            return self._optimizer
        return [self._optimizer], [self._scheduler]

    # -------------------------------------------------------------- parameters
    @property
    def num_weights(self) -> int:
        """Number of trainable parameter elements (frozen ones are not counted, as in NeMo)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def summarize(self, max_depth: int = 1):
        """Lightning's ModelSummary of this model."""
        from lightning.pytorch.utilities.model_summary import ModelSummary

        return ModelSummary(self, max_depth=max_depth)

    def on_train_batch_start(self, batch, batch_idx: int):
        """Apply `cfg.freeze_updates` (sub-modules frozen for a range of optimizer updates)."""
        schedule = self._cfg.get("freeze_updates", None)
        if schedule is not None and schedule.get("enabled", False):
            from nemo.core.classes.model_init import FreezeSchedule

            if getattr(self, "_freeze_schedule", None) is None:
                self._freeze_schedule = FreezeSchedule(self, schedule)
            self._freeze_schedule.update(self, self.trainer.global_step if self._trainer is not None else 0)

    # ------------------------------------------------------ init from others
    def maybe_init_from_pretrained_checkpoint(self, cfg: DictConfig, map_location: str = "cpu") -> None:
        """Load weights named by `cfg.init_from_nemo_model` / `init_from_pretrained_model` / `init_from_ptl_ckpt`
        (a path or name, or a mapping of `{path|name, include, exclude}` entries)."""
        from nemo.core.classes.model_init import maybe_init_from_pretrained_checkpoint

        maybe_init_from_pretrained_checkpoint(self, cfg, map_location)

    def load_part_of_state_dict(self, state_dict, include, exclude, load_from_string: Optional[str] = None):
        """Load the keys containing an `include` substring and no `exclude` one, leaving the rest as they are."""
        from nemo.core.classes.model_init import load_part_of_state_dict

        return load_part_of_state_dict(self, state_dict, include, exclude, load_from_string)

    @classmethod
    def extract_state_dict_from(cls, restore_path: str, save_dir: str, split_by_module: bool = False,
                                save_restore_connector: Optional[SaveRestoreConnector] = None):
        """Write the weights of a `.nemo` into `save_dir` (one file, or one per top-level module)."""
        from nemo.core.classes.model_init import extract_state_dict_from

        return extract_state_dict_from(restore_path, save_dir, split_by_module)

    # ---------------------------------------------------------- save/restore
    @property
    def is_being_restored(self) -> bool:
        """True while (and when) this instance is built by `restore_from`."""
        return self._restore_ctx is not None

    @staticmethod
    def _is_model_being_restored() -> bool:
        """True inside a `restore_from` call in this thread (no process-global flag)."""
        return restore_context.current() is not None

    def save_to(self, save_path: str) -> None:
        """Write the model (config, weights, artifacts, nested models) to one `.nemo` file.

        The file is written beside the target and renamed into place, so a failed save leaves an
        existing file untouched. Only global rank 0 writes.
        """
        import os

        if rank_zero_only.rank != 0:
            return
        save_path = os.path.abspath(os.path.expanduser(str(save_path)))
        self._save_restore_connector.save_to(self, save_path)

    @classmethod
    def restore_from(
        cls,
        restore_path: str,
        override_config_path: Optional[Union[OmegaConf, str]] = None,
        map_location: Optional[torch.device] = None,
        strict: bool = True,
        return_config: bool = False,
        save_restore_connector: Optional[SaveRestoreConnector] = None,
        trainer: Optional[pl.Trainer] = None,
        validate_access_integrity: bool = True,
        *,
        allowed_targets: Tuple[str, ...] = (),
    ):
        """Restore a model from a `.nemo` file or extracted folder.

        `ModelPT.restore_from` builds the class named by the archive's `target` (allow-listed);
        `MyModel.restore_from` builds `MyModel` unless `target` names a subclass of it.
        `allowed_targets` opts in to more namespaces for `target`/`_target_` values.
        """
        connector = save_restore_connector or SaveRestoreConnector()
        return connector.restore_from(
            cls,
            restore_path,
            override_config_path=override_config_path,
            map_location=map_location,
            strict=strict,
            return_config=return_config,
            trainer=trainer,
            validate_access_integrity=validate_access_integrity,
            allowed_targets=allowed_targets,
        )

    def register_artifact(self, config_path: str, src: str, verify_src_exists: bool = True) -> Optional[str]:
        """Package the file `src` with the model; returns a real path valid for the model's lifetime.

        The config value at `config_path` becomes that path now and `nemo:<hash>_<name>` in saved
        archives. With `verify_src_exists=False` a missing file returns None.
        """
        if src is not None and str(src).endswith(".nemo"):
            raise NeMoBaseException(
                "Registering .nemo files as artifacts not supported. "
                "If you are trying to make a nested model, use `register_nemo_submodule`."
            )
        if getattr(self, "artifacts", None) is None:
            self.artifacts = {}
        return self._save_restore_connector.register_artifact(self, config_path, src, verify_src_exists)

    def has_artifacts(self) -> bool:
        return bool(getattr(self, "artifacts", None))

    def has_native_or_submodules_artifacts(self) -> bool:
        return any(isinstance(m, ModelPT) and m.has_artifacts() for m in self.modules())

    # ----------------------------------------------------------- nested models
    def register_nemo_submodule(self, name: str, config_field: str, model: "ModelPT") -> None:
        """Make `model` the child `self.<name>`; on save its config is written at `config_field`."""
        if not isinstance(model, ModelPT):
            raise NeMoBaseException(f"register_nemo_submodule: {name} must be a ModelPT, got {type(model).__name__}")
        if not hasattr(self, "_nemo_submodule_name_to_config_field"):
            raise NeMoBaseException("register_nemo_submodule must be called after super().__init__()")
        setattr(self, name, model)
        self._nemo_submodule_name_to_config_field[name] = config_field

    def has_nemo_submodules(self) -> bool:
        return bool(self._nemo_submodule_name_to_config_field)

    def named_nemo_modules(self, prefix_name: str = "", prefix_config: str = "") -> Iterator[Tuple[str, str, "ModelPT"]]:
        """Yield `(attribute path, config path, model)` for self and every nested NeMo model."""
        yield prefix_name, prefix_config, self
        for name, field in self._nemo_submodule_name_to_config_field.items():
            child = getattr(self, name)
            attr = f"{prefix_name}.{name}" if prefix_name else name
            conf = f"{prefix_config}.{field}" if prefix_config else field
            yield from child.named_nemo_modules(attr, conf)

    # ------------------------------------------------------ Lightning ckpt
    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, *args, map_location=None, hparams_file=None, strict=True, **kwargs):
        """Lightning's loader, without data setup. Artifacts are not in `.ckpt` files: models that
        need them must be restored from a `.nemo` with `restore_from`."""
        import os

        from nemo.utils.safe_load import checkpoint_globals, load_checkpoint, readable_by_torch

        if "cfg" not in kwargs and hparams_file is None:
            # Our checkpoints store the config as plain containers (NeMo's as DictConfigs); models want a DictConfig.
            try:
                stored = load_checkpoint(checkpoint_path, map_location="cpu")
                cfg = stored.get(cls.CHECKPOINT_HYPER_PARAMS_KEY, {}).get("cfg")
            except Exception:  # unreadable here: Lightning reports it below
                cfg = None
            if isinstance(cfg, (dict, DictConfig)):
                kwargs["cfg"] = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg
        try:
            is_path = isinstance(checkpoint_path, (str, os.PathLike))
            with contextlib.ExitStack() as stack:  # a protocol-3+ pickle is read through our allow-list first
                readable = stack.enter_context(readable_by_torch(checkpoint_path)) if is_path else checkpoint_path
                stack.enter_context(restore_context.restoring(restore_context.RestoreContext(None)))
                if is_path:
                    stack.enter_context(checkpoint_globals(readable))
                return super().load_from_checkpoint(
                    readable, *args, map_location=map_location, hparams_file=hparams_file, strict=strict, **kwargs
                )
        except ArtifactError as e:
            raise ArtifactError(
                f"{checkpoint_path}: this model needs artifact files that Lightning checkpoints do not carry "
                f"({e}). Use {cls.__name__}.restore_from('<model>.nemo') instead."
            ) from e

