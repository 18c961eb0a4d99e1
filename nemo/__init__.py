"""nemo: NeMo-compatible model system. Importing this package loads nothing heavy."""

from nemo.package_info import (  # noqa: F401
    __contact_names__,
    __description__,
    __homepage__,
    __keywords__,
    __license__,
    __package_name__,
    __repository_url__,
    __shortversion__,
    __version__,
)
