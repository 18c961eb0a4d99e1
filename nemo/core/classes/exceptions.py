"""The exception types, at their old path: they live in `nemo.utils.exceptions` (re-exported here and from `nemo.core`)."""

from nemo.utils.exceptions import (  # noqa: F401
    ArchiveError,
    ArchiveNotFoundError,
    ArtifactError,
    ConfigError,
    ModelClassError,
    NeMoBaseException,
    UnsafeArchiveError,
    UnsafeTargetError,
    WeightsMismatchError,
)
from nemo.utils.exceptions import __all__  # noqa: F401
