"""Exception types raised by the model system; each message names the file, member or key at fault.

They live on the ground floor (`nemo.utils`, NeMo's path) so every layer can raise them; `nemo.core` re-exports them.
"""


class NeMoBaseException(Exception):
    """Base class for every error this package raises on purpose."""


class ArchiveError(NeMoBaseException, ValueError):
    """A `.nemo` archive (or extracted folder) is unreadable, malformed or unsafe."""


class ArchiveNotFoundError(ArchiveError, FileNotFoundError):
    """The path given to `restore_from` does not exist."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape its folder, or is a link or device file."""


class ModelClassError(NeMoBaseException, ValueError):
    """The class named by `target` cannot be found or is not allowed."""


class UnsafeTargetError(ModelClassError):
    """A `target`/`_target_` value lies outside the allowed namespaces."""


class WeightsMismatchError(NeMoBaseException, RuntimeError):
    """Weights in an archive do not fit the model built from its config."""


class ArtifactError(NeMoBaseException, FileNotFoundError):
    """A registered artifact is missing or cannot be packed."""


class ConfigError(NeMoBaseException, ValueError):
    """A config (override file, model section) is missing, unreadable or malformed."""


__all__ = [
    "ArchiveError",
    "ArchiveNotFoundError",
    "ArtifactError",
    "ConfigError",
    "ModelClassError",
    "NeMoBaseException",
    "UnsafeArchiveError",
    "UnsafeTargetError",
    "WeightsMismatchError",
]
