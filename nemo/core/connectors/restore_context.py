"""The restore context: which archive a model is being built from, passed without global flags.

`restore_from` enters a context for the duration of the constructor call (a `ContextVar`, reset in
`finally`), so nested models built inside a parent's constructor resolve their `nemo:` artifacts
from the same archive. Each model built in a context keeps a reference to it, which keeps the
folder holding its extracted artifacts alive for the model's lifetime.
"""

import contextlib
import contextvars
import os
import tempfile
from typing import Any, Iterator, Optional

from nemo.utils.exceptions import ArtifactError
from nemo.core.connectors.archive import NemoArchive


class RestoreContext:
    """An archive being restored and the private folder its artifacts are extracted into.

    `archive` is None while loading a Lightning checkpoint: data setup is skipped, no artifacts.
    """

    def __init__(self, archive: Optional[NemoArchive], config: Any = None):
        self.archive = archive
        self.config = config  # the checked, resolved config read from the archive: the model may adopt it uncopied
        self._tmp: Optional[tempfile.TemporaryDirectory] = None

    @property
    def folder(self) -> str:
        """Where artifacts of this restore live (the archive itself when it is a folder)."""
        if self.archive.is_dir:
            return self.archive.path
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nemo_artifacts_")
        return self._tmp.name

    def has(self, member: str) -> bool:
        return self.archive is not None and self.archive.has(member)

    def artifact_path(self, member: str) -> str:
        """A real file for archive member `member`, extracted on first use."""
        if not self.has(member):
            where = self.archive.path if self.archive is not None else "a Lightning checkpoint"
            raise ArtifactError(f"{where} has no artifact member {member!r}")
        if self.archive.is_dir:
            return os.path.join(self.archive.path, member)
        return self.archive.extract(member, self.folder)


_current: contextvars.ContextVar = contextvars.ContextVar("nemo_restore_context", default=None)


def current() -> Optional[RestoreContext]:
    """The restore in progress in this thread/task, if any."""
    return _current.get()


@contextlib.contextmanager
def restoring(ctx: Optional[RestoreContext]) -> Iterator[Optional[RestoreContext]]:
    """Make `ctx` current inside the block (None means 'not restoring')."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
