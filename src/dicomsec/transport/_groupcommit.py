"""Group commit for received instances: durable before their success status, fsynced together.

Each SCP worker thread writes its instance to a private file with no name in the target
folder (``O_TMPFILE``, see :mod:`dicomsec._atomic`: a kill leaves nothing) and then waits. One
of the waiting threads (the first to find no commit running) takes every file written so far,
fsyncs each one, links each into place (over its target, or only where no file is, for the
duplicate policy) and fsyncs each folder once,
then wakes them all. Files that arrive during a commit go into the next one. A thread
returns only once its own file and the folder entry naming it are on disk, so a success
status sent after :meth:`GroupCommit.store` returns is never a lie; the saving is one folder
fsync per group instead of one per file, and kernel write-back shared between the files of
a group.

Files are private (0600) until they are named; they then get the mode ``dicomsec._atomic``
gives outputs (:func:`~dicomsec._atomic.output_mode`). On any error the file is discarded and
the error is raised in the thread that stored it.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dicomsec._atomic import (
    discard_file,
    link_file,
    new_file_mode,
    output_mode,
    private_file,
    sync_folder,
)
from dicomsec.errors import InvalidInput

__all__ = ["GroupCommit"]


@dataclass(eq=False, slots=True)
class _Pending:
    fd: int
    tmp: Path | None  # None: the file has no name (O_TMPFILE)
    target: Path
    replace: bool = True
    done: bool = False
    error: OSError | None = None


class GroupCommit:
    """Durable, atomic stores of small files, committed in groups (thread-safe)."""

    def __init__(self, max_group: int = 64) -> None:
        self.max_group = max_group
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._committing = False
        #: groups committed and files in them (for tests and the benchmark's notes)
        self.groups = 0
        self.files = 0

    def store(self, target: Path, parts: Sequence[bytes | memoryview], *,
              replace: bool = True) -> None:
        """Write ``parts`` to ``target`` atomically and durably; returns once it is on disk.

        With ``replace=False`` an existing ``target`` is never replaced, not even by a store
        racing with this one: the file is linked into place, and ``FileExistsError`` raised.

        Raises:
            FileExistsError: ``replace`` is false and ``target`` exists (nothing is left).
            OSError: the file could not be written, synced or renamed (nothing is left).
        """
        item = self._write(target, parts)
        item.replace = replace
        with self._cond:
            self._pending.append(item)
            while not item.done:
                if not self._committing:
                    self._lead()
                else:
                    self._cond.wait()
        if item.error is not None:
            raise item.error

    @staticmethod
    def _write(target: Path, parts: Sequence[bytes | memoryview]) -> _Pending:
        fd, tmp = private_file(target.parent, target.name)
        try:
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view):]
        except BaseException:
            discard_file(fd, tmp)
            raise
        return _Pending(fd, tmp, target)

    def _lead(self) -> None:
        """Commit the pending files (called with the condition held; releases it meanwhile)."""
        group, self._pending = self._pending[:self.max_group], self._pending[self.max_group:]
        self._committing = True
        self._cond.release()
        try:
            _commit(group)
        finally:
            self._cond.acquire()
            self._committing = False
            self.groups += 1
            self.files += len(group)
            for item in group:
                item.done = True
            self._cond.notify_all()


def _commit(group: list[_Pending]) -> None:
    folders: set[Path] = set()
    for item in group:
        try:
            os.fsync(item.fd)
            os.fchmod(item.fd, _mode(item))
            link_file(item.fd, item.tmp, item.target, replace=item.replace)
            folders.add(item.target.parent)
        except OSError as exc:
            item.error = exc
        finally:
            discard_file(item.fd, item.tmp)
    for folder in folders:
        sync_folder(folder)


def _mode(item: _Pending) -> int:
    """The stored file's mode; a target that is not a regular file is never replaced."""
    if not item.replace:
        return new_file_mode()  # linked only where no file is
    try:
        return output_mode(item.target)
    except InvalidInput as exc:
        raise OSError(errno.EINVAL, exc.message) from None
