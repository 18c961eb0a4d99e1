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
    "PretrainedModelInfo": "nemo.core.classes.common",
    "typecheck": "nemo.core.classes.common",
    "is_typecheck_enabled": "nemo.core.classes.common",
    "safe_instantiate": "nemo.core.classes.common",
    "ALLOWED_TARGET_PREFIXES": "nemo.core.classes.common",
    "HuggingFaceFileIO": "nemo.core.classes.mixins.hf_io_mixin",
    "register_allowed_target_prefix": "nemo.core.classes.common",
    "allowed_targets": "nemo.core.classes.common",
    "NeMoBaseException": "nemo.core.classes.exceptions",
    "ArchiveError": "nemo.core.classes.exceptions",
    "ArchiveNotFoundError": "nemo.core.classes.exceptions",
    "UnsafeArchiveError": "nemo.core.classes.exceptions",
    "ModelClassError": "nemo.core.classes.exceptions",
    "UnsafeTargetError": "nemo.core.classes.exceptions",
    "WeightsMismatchError": "nemo.core.classes.exceptions",
    "ArtifactError": "nemo.core.classes.exceptions",
    "ConfigError": "nemo.core.classes.exceptions",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
