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

A large received data set is already in such a file (the SCP spools it there, File Meta
Information first: see ``_pynetdicom.DataSetSpool``): :class:`WrittenFile` links that file
into place as it is, without a second copy; :class:`FileRange` copies part of one in the
kernel (``copy_file_range``) when the file cannot be used as it is.
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

__all__ = ["Content", "FileRange", "GroupCommit", "WrittenFile"]

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileRange:
    """``length`` bytes of the open file ``fd`` from ``offset``: a part copied in the kernel."""

    fd: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A complete :func:`~dicomsec._atomic.private_file` (descriptor, fallback name) that is
    stored as it is: fsynced, given its mode and linked into place. It stays the caller's:
    the caller closes it (:func:`~dicomsec._atomic.discard_file`), also after a failure."""

    fd: int
    tmp: Path | None


#: what :meth:`GroupCommit.store` writes: parts one after the other, or a written file
Content = Sequence[bytes | memoryview | FileRange] | WrittenFile


@dataclass(eq=False, slots=True)
class _Pending:
    fd: int
    tmp: Path | None  # None: the file has no name (O_TMPFILE)
    target: Path
    replace: bool = True
    #: the file is ours to close (False for a :class:`WrittenFile`, the caller's)
    owned: bool = True
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

    def store(self, target: Path, parts: Content, *, replace: bool = True) -> None:
        """Write ``parts`` to ``target`` atomically and durably; returns once it is on disk.
        A :class:`WrittenFile` is linked into place as it is (``target`` must be in its
        folder); a failed store leaves it unnamed, so that it can be stored elsewhere.

        With ``replace=False`` an existing ``target`` is never replaced, not even by a store
        racing with this one: the file is linked into place, and ``FileExistsError`` raised.

        Raises:
            FileExistsError: ``replace`` is false and ``target`` exists (nothing is left).
            OSError: the file could not be written, synced or renamed (nothing is left).
        """
        if isinstance(parts, WrittenFile):
            item = _Pending(parts.fd, parts.tmp, target, owned=False)
        else:
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
    def _write(target: Path, parts: Sequence[bytes | memoryview | FileRange]) -> _Pending:
        fd, tmp = private_file(target.parent, target.name)
        try:
            for part in parts:
                if isinstance(part, FileRange):
                    _copy(part, fd)
                    continue
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
            mode = _mode(item)
            if item.tmp is None:  # unnamed (O_TMPFILE): its mode is set before it has a name
                os.fchmod(item.fd, mode)
            link_file(item.fd, item.tmp, item.target, replace=item.replace)
            if item.tmp is not None:  # a named temporary stays 0600 until the link succeeded
                os.fchmod(item.fd, mode)
            folders.add(item.target.parent)
        except OSError as exc:
            item.error = exc
        finally:
            if item.owned:
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


def _copy(part: FileRange, fd: int) -> None:
    """Append ``part`` to the file ``fd`` (``copy_file_range``; reads and writes where the
    kernel refuses it).

    Raises:
        OSError: a read or write failed, or the source ended early (``EIO``).
    """
    offset, left = part.offset, part.length
    while left > 0:
        try:
            n = os.copy_file_range(part.fd, fd, min(left, 1 << 30), offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            n = _copy_through_memory(part.fd, fd, offset, min(left, _COPY_CHUNK))
        if n <= 0:
            raise OSError(errno.EIO, "the spooled data set ended early")
        offset += n
        left -= n


def _copy_through_memory(src: int, dst: int, offset: int, length: int) -> int:
    data = os.pread(src, length, offset)
    view = memoryview(data)
    while view:
        view = view[os.write(dst, view):]
    return len(data)
