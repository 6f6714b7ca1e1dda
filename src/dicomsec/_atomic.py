"""The one atomic-write helper: no file that is not yet proven ever has a name.

An output is written to an *unnamed* file in the target folder (Linux ``O_TMPFILE``: an inode
with no directory entry, private 0600) and linked into place only when the ``with`` block
succeeded: flushed, fsynced, given its mode through the descriptor (``fchmod``), linked through
``/proc/self/fd/N`` straight to the target when it does not exist, or to a fresh hidden name
then renamed over the target, and the folder fsynced. On an exception, a SIGTERM or a SIGKILL
at any moment before that, the kernel frees the inode: nothing is left behind, no partial
output and no plaintext.

Fallback, where ``O_TMPFILE`` is refused (a file system without it, no ``/proc``, not Linux):
a named 0600 temporary ``.NAME.dicomsec-<pid>-<random>.tmp`` in the target folder. A SIGKILL
can leave one of those, so before its first output in a folder each process *sweeps* it:
files named so, owned by our user, whose process is no longer alive are removed (the hidden
name of the rename above follows the same pattern, so the sweep runs in both modes). A
temporary of a live process, of another user, or of another pid namespace's live process that
we cannot see is kept; a writer whose temporary was swept fails, it never publishes anything.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dicomsec.errors import InvalidInput

__all__ = ["atomic_output", "atomic_write_bytes", "copy_range", "discard_file", "file_kind",
           "in_place_lock", "link_file", "new_file_mode", "output_mode", "private_file",
           "publish_file", "regular_input", "sweep", "sync_folder", "unnamed_file"]

_COPY_CHUNK = 1 << 20


def _read_umask() -> int:
    """The process's umask, read once at import. ``os.umask`` can only be read by setting it,
    which changes it for every thread; /proc tells it without a change (Linux 4.7+)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)  # import time, before any worker thread of ours exists
    os.umask(mask)
    return mask


#: the umask in force when dicomsec was imported; new outputs get ``0o666 & ~_UMASK``
_UMASK = _read_umask()

#: ``O_TMPFILE`` can be tried (Linux with /proc); tests set it false to force the fallback
_USE_TMPFILE = (hasattr(os, "O_TMPFILE") and os.link in os.supports_dir_fd
                and os.path.isdir("/proc/self/fd"))
#: errors with which a file system refuses ``O_TMPFILE`` (then the named fallback is used)
_TMPFILE_REFUSED = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL})
#: names of our temporaries: ``.NAME.dicomsec-<pid>-<random>.tmp``
_TEMP_NAME = re.compile(r"\..*\.dicomsec-([0-9]+)-[0-9a-f]{12}\.tmp", re.DOTALL)
_NAME_MAX = 100  # characters of the target's name kept in a temporary's name
#: folders swept by this process, as (device, inode); guarded by _sweep_lock
_swept: set[tuple[int, int]] = set()
_sweep_lock = threading.Lock()


def new_file_mode() -> int:
    """The mode a new output gets: ``0o666`` less the umask read at import (never set again)."""
    return 0o666 & ~_UMASK


def _folder_of(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def _proc_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _temp_name(target: Path) -> Path:
    """A fresh hidden name next to ``target`` that says it is ours and whose process it is."""
    return _folder_of(target) / (f".{target.name[:_NAME_MAX]}.dicomsec-{os.getpid()}-"
                                 f"{os.urandom(6).hex()}.tmp")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # never signal a process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours to signal
    return True


def sweep(folder: Path | str) -> list[Path]:
    """Remove the temporaries that dead dicomsec processes left in ``folder``; the removed.

    Only regular files named ``.NAME.dicomsec-<pid>-<random>.tmp``, owned by our user, whose
    pid is not a live process are removed (best effort: errors are ignored). A pid reused by
    another process keeps its file until that process ends.
    """
    removed: list[Path] = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = _TEMP_NAME.fullmatch(entry.name)
            if match is None or _pid_alive(int(match[1])):
                continue
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _sweep_once(folder: Path) -> None:
    """:func:`sweep` ``folder`` unless this process did already."""
    try:
        st = os.stat(folder)
    except OSError:
        return  # the open that follows reports it
    key = (st.st_dev, st.st_ino)
    with _sweep_lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep(folder)


def private_file(folder: Path | str, name: str = "output") -> tuple[int, Path | None]:
    """Low level: a new, empty, private (0600) file in ``folder``, read-write; (descriptor,
    None) when it has no name (``O_TMPFILE``), (descriptor, its path) in the fallback, where
    ``name`` (the target's) is part of the temporary's name.

    Give it its name with :func:`link_file`; always end with :func:`discard_file`.
    """
    folder = Path(folder)
    _sweep_once(folder)
    if _USE_TMPFILE:
        try:
            return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600), None
        except OSError as exc:
            if exc.errno not in _TMPFILE_REFUSED:
                raise
    tmp = _temp_name(folder / name)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    return os.open(tmp, flags, 0o600), tmp


#: why an output that is a symbolic link is refused (one message for the library and the CLI)
SYMLINK_OUTPUT = ("is a symbolic link; refusing to replace it (name the file itself, or remove "
                  "the link)")


def output_mode(target: Path, mode: int | None = None) -> int:
    """The mode a published output gets: ``mode``; else the mode of the regular file it
    replaces; else (new) the umask's.

    A symbolic link is refused, not followed and not replaced: following it would write where
    the link points (``/proc/self/fd/1``, another user's file), replacing it would leave the
    file it names unchanged while the command reports success (``sign --in-place`` of a link).

    Raises:
        InvalidInput: ``target`` exists and is not a regular file (a symlink included).
    """
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return new_file_mode() if mode is None else mode
    if stat.S_ISLNK(st.st_mode):
        raise InvalidInput(SYMLINK_OUTPUT, path=str(target))
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(file_kind(st.st_mode) + "; refusing to write there",
                           path=str(target))
    return st.st_mode & 0o7777 if mode is None else mode


def link_file(fd: int, tmp: Path | None, target: Path, *, replace: bool = True) -> None:
    """Low level: name a finished :func:`private_file` ``target`` (the caller fsynced it and
    set its mode, and fsyncs the folder). ``replace=False``: never replace an existing
    ``target``, not even one created meanwhile (``FileExistsError``, nothing named).
    """
    if tmp is not None:  # the fallback: the file has its temporary name already
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails when the target exists
            os.unlink(tmp)
        return
    if not replace:
        _link_fd(fd, target)
        return
    with contextlib.suppress(FileExistsError):
        _link_fd(fd, target)  # absent: named once, complete
        return
    hidden = _temp_name(target)
    _link_fd(fd, hidden)
    try:
        os.replace(hidden, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(hidden)
        raise


def _link_fd(fd: int, path: Path) -> None:
    """Give the unnamed file open as ``fd`` the name ``path`` (``linkat`` of
    ``/proc/self/fd/N`` with ``AT_SYMLINK_FOLLOW``; Python before 3.14 uses ``link``, which
    does not follow, unless a ``dir_fd`` is given).

    Raises:
        FileExistsError: ``path`` exists.
    """
    dfd = os.open(_folder_of(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(_proc_path(fd), path.name, dst_dir_fd=dfd, follow_symlinks=True)
    finally:
        os.close(dfd)


def discard_file(fd: int, tmp: Path | None) -> None:
    """Low level: close a :func:`private_file`; one that was never named is gone with it
    (a fallback temporary is unlinked if it is still ours)."""
    try:
        if tmp is not None:
            with contextlib.suppress(OSError):
                st = os.fstat(fd)
                if os.path.samestat(st, os.lstat(tmp)):
                    os.unlink(tmp)
    finally:
        os.close(fd)


@contextlib.contextmanager
def unnamed_file(folder: Path | str, name: str = "output") -> Iterator[BinaryIO]:
    """Yield a new private (0600) binary file in ``folder`` that has no name (``O_TMPFILE``;
    the named fallback elsewhere) until :func:`publish_file` names it; closed on exit, and
    gone with it unless published. Its ``name`` reopens it (``/proc/self/fd/N``); ``name``
    (the target's) is part of the fallback temporary's name.
    """
    fd, tmp = private_file(folder, name)
    try:
        raw = io.FileIO(fd, "r+", closefd=False)
        raw.name = str(tmp) if tmp is not None else _proc_path(fd)
        with io.BufferedRandom(raw) as fh:
            yield fh
    finally:
        discard_file(fd, tmp)


def publish_file(fh: BinaryIO, target: Path | str, *, mode: int | None = None,
                 replace: bool = True) -> None:
    """Name an :func:`unnamed_file` ``target``: flush, fsync, set its mode on the descriptor
    (``mode``, else the replaced file's, else the umask's: see :func:`output_mode`), link it
    into place and fsync the folder. ``target`` must be in the file's folder.

    Raises:
        InvalidInput: ``target`` exists and is not a regular file (a symlink included).
        FileExistsError: ``replace`` is false and ``target`` exists.
    """
    target = Path(target)
    fh.flush()
    fd = fh.fileno()
    os.fsync(fd)
    os.fchmod(fd, output_mode(target, mode))
    name = str(fh.name)
    link_file(fd, None if name == _proc_path(fd) else Path(name), target, replace=replace)
    sync_folder(_folder_of(target))


@contextlib.contextmanager
def atomic_output(path: Path | str, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` atomically when the block succeeds.

    The file has no name until then (see the module's docstring), and is private (0600): it
    gets ``mode`` (or the replaced file's, or the umask's) only when it is published.

    Raises:
        InvalidInput: ``path`` exists and is not a regular file (a symlink included), checked
            before the block.
    """
    target = Path(path)
    output_mode(target, mode)  # refuse a device, FIFO or folder before any work
    with unnamed_file(_folder_of(target), target.name) as fh:
        yield fh
        publish_file(fh, target, mode=mode)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a crash (best effort: not every file
    system can sync a folder)."""
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def in_place_lock(src: Path | str, dst: Path | str) -> Iterator[None]:
    """Serialise in-place rewrites of one file: when ``dst`` is ``src`` (the same file), hold
    an exclusive lock for the whole read-modify-replace, so that two concurrent in-place
    signers both end up in the file (the second waits, then reads what the first published)
    instead of one silently losing the other's change. Otherwise it does nothing.

    The lock is taken on the file's folder, not on the file, because the atomic replace puts
    a new inode under the name while a waiter would still hold the old one. Only dicomsec
    honours it (``flock``, advisory).
    """
    try:
        same = os.path.samefile(src, dst)
    except OSError:
        same = False  # dst does not exist yet: nothing to lose
    if not same:
        yield
        return
    import fcntl

    folder = Path(dst).parent if str(Path(dst).parent) else Path(".")
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is, for an error message."""
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a FIFO, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def regular_input(p: Path) -> Path:
    """An input that must be a regular file (symlinks followed): never a FIFO or a device,
    which would hang or never end, never a directory; checked before it is opened.

    Raises:
        InvalidInput: missing, unreadable or not a regular file (one line naming it).
    """
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise InvalidInput("no such file", path=str(p)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(file_kind(mode), path=str(p))
    return p


def atomic_write_bytes(path: Path | str, data: bytes, *, mode: int | None = None) -> None:
    with atomic_output(path, mode=mode) as fh:
        fh.write(data)


def copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    """Copy ``length`` bytes of ``src`` from ``offset`` to the current end of ``dst``.

    Uses ``os.copy_file_range`` between real files (no copy through user space), and falls back
    to chunked reads into one reusable buffer.
    """
    if length <= 0:
        return
    dst.flush()
    try:
        sfd, dfd = src.fileno(), dst.fileno()
    except (AttributeError, OSError, ValueError):
        sfd = dfd = -1
    if sfd >= 0 and hasattr(os, "copy_file_range"):
        done = 0
        dpos = dst.tell()
        try:
            while done < length:
                n = os.copy_file_range(sfd, dfd, length - done, offset + done, dpos + done)
                if n == 0:
                    break
                done += n
            dst.seek(dpos + done)
            if done == length:
                return
        except OSError:
            dst.seek(dpos + done)
        offset += done
        length -= done
    buf = bytearray(min(_COPY_CHUNK, length))
    view = memoryview(buf)
    src.seek(offset)
    while length > 0:
        n = src.readinto(view[: min(len(buf), length)])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("unexpected end of input while copying")
        dst.write(view[:n])
        length -= n
