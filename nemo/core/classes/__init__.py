"""Core classes. Names are resolved lazily so `import nemo.core.classes` stays cheap."""

from nemo.utils.lazy import lazy_exports

_EXPORTS = {
    "ModelPT": "nemo.core.classes.modelPT",
    "NeuralModule": "nemo.core.classes.module",
    "Exportable": "nemo.core.classes.exportable",
    "ExportFormat": "nemo.core.classes.exportable",
    "Loss": "nemo.core.classes.loss",
    "Dataset": "nemo.core.classes.dataset",
    "IterableDataset": "nemo.core.classes.dataset",
    "Typing": "nemo.core.classes.common",
    "Serialization": "nemo.core.classes.common",
    "FileIO": "nemo.core.classes.common",
    "Model": "nemo.core.classes.common",
    "PretrainedModelInfo": "nemo.core.classes.pretrained",
    "typecheck": "nemo.core.classes.common",
    "is_typecheck_enabled": "nemo.core.classes.common",
    "safe_instantiate": "nemo.core.classes.targets",
    "ALLOWED_TARGET_PREFIXES": "nemo.core.classes.targets",
    "HuggingFaceFileIO": "nemo.core.classes.mixins.hf_io_mixin",
    "register_allowed_target_prefix": "nemo.core.classes.targets",
    "allowed_targets": "nemo.core.classes.targets",
    "NeMoBaseException": "nemo.utils.exceptions",
    "ArchiveError": "nemo.utils.exceptions",
    "ArchiveNotFoundError": "nemo.utils.exceptions",
    "UnsafeArchiveError": "nemo.utils.exceptions",
    "ModelClassError": "nemo.utils.exceptions",
    "UnsafeTargetError": "nemo.utils.exceptions",
    "WeightsMismatchError": "nemo.utils.exceptions",
    "ArtifactError": "nemo.utils.exceptions",
    "ConfigError": "nemo.utils.exceptions",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
