"""The one atomic-write helper: temp file in the target folder, flush, fsync, rename.

On any exception inside the ``with`` block the temporary file is removed and the target is left
as it was, so a failed command never leaves a partial output.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dicomsec.errors import InvalidInput

__all__ = ["atomic_output", "atomic_write_bytes", "copy_range", "file_kind", "in_place_lock",
           "new_file_mode", "publish", "regular_input", "sync_folder"]

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


def new_file_mode() -> int:
    """The mode a new output gets: ``0o666`` less the umask read at import (never set again)."""
    return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_output(path: Path | str, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` atomically when the block succeeds.

    The temporary file is created with mode 0600 (decrypted data stays private until it is
    published) and gets ``mode`` (or the target's, or the umask's) only when it is renamed.
    """
    import tempfile

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        os.close(fd)
        # "r+b", not "w+b": no O_TRUNC, which makes ext4 start write-back at close
        with open(tmp, "r+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        publish(Path(tmp), target, mode=mode, synced=True)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def publish(tmp: Path, target: Path, *, mode: int | None = None, synced: bool = False) -> None:
    """Make a finished temporary file (in the target's folder) durable and rename it over
    ``target``; the folder is fsynced too. ``synced``: the caller already fsynced it."""
    if not synced:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    if mode is not None:
        os.chmod(tmp, mode)
    elif target.exists():
        os.chmod(tmp, target.stat().st_mode & 0o7777)
    else:
        os.chmod(tmp, new_file_mode())
    os.replace(tmp, target)
    sync_folder(target.parent if str(target.parent) else Path("."))


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
