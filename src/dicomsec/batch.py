"""One batch executor for every command that takes many files.

- :func:`iter_files` lists files and folders lazily (a generator: a folder of a million files is
  never held in a list);
- an :class:`Executor` runs one job per item and yields an :class:`Outcome` per item, in order
  of completion; an exception in a job becomes a per-item error outcome (one clear line), never
  the end of the run;
- :class:`LocalExecutor` is the implementation shipped today: worker processes by default,
  ``workers=1`` runs in the calling process. A distributed engine (Dask) plugs in later as
  another :class:`Executor` (``client.submit`` per item, ``as_completed``) returned by
  :func:`make_executor`, without touching the commands, which only ever see the protocol.

Jobs must be picklable (module-level functions, or :func:`functools.partial` of one, with
picklable arguments) and return picklable values: reports holding certificate objects are not,
so jobs return what the caller needs (a dictionary, rendered text). A job that needs an
expensive context (a trust store) builds it from picklable arguments (paths) and caches it in
the worker.

Layer: above ``signatures``, ``securefile`` and ``transport``, below ``cli``; this module
imports none of them (the jobs do).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from dicomsec.errors import DicomSecError, ErrorKind, InvalidInput, error_kind

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "ErrorKind", "Executor", "LocalExecutor", "Outcome", "default_workers", "iter_files",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")

#: what kind of failure an error outcome is: unreadable input (exit 2), a failed security check
#: (exit 1), or a defect or a crashed worker


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each path that is not a folder, then every file under each folder, recursively, in
    sorted order within a folder; lazily. Paths that do not exist are yielded as given (the
    job reports them)."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield Path(root) / f
        else:
            yield p


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T, R]):
    """The result of one job: its value, or an error in one line (never both)."""

    item: T
    value: R | None = None
    #: one line for people (with the path when the error names one); ``None`` on success
    error: str | None = None
    #: the error's message without its location, for JSON (``None`` on success)
    message: str | None = None
    kind: ErrorKind | None = None
    #: the traceback of an internal error (a defect), for ``--debug``; ``None`` otherwise
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _failed(item: T, exc: BaseException) -> Outcome[T, R]:
    kind = error_kind(exc)
    if isinstance(exc, DicomSecError):
        hint = f" ({exc.hint})" if exc.hint and kind == "security" else ""
        return Outcome(item, error=f"{exc}{hint}", message=exc.message, kind=kind)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        text = f"{where}{exc.strerror or exc}"
        return Outcome(item, error=text, message=exc.strerror or str(exc), kind=kind)
    import traceback

    text = f"internal error: {type(exc).__name__}: {exc}"
    detail = "".join(traceback.format_exception(exc))
    return Outcome(item, error=text, message=text, kind=kind, detail=detail)


def _call(fn: Callable[[T], R], item: T) -> Outcome[T, R]:
    """Run one job, turning an exception into an error outcome (in the worker)."""
    try:
        return Outcome(item, value=fn(item))
    except Exception as exc:  # every failure becomes this item's result, not the run's end
        return _failed(item, exc)


def _worker_init() -> None:
    # the parent handles Ctrl-C and SIGTERM and shuts the pool down; workers just stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """Runs ``fn`` on every item; yields one :class:`Outcome` per item, in order of
    completion, as soon as it is known. Exceptions raised by ``fn`` become error outcomes."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Outcome[T, R]]: ...


class LocalExecutor:
    """Worker processes on this machine (``workers=1``: in the calling process).

    At most ``workers * window`` jobs are in flight, so the listing is consumed lazily and
    memory does not grow with the number of items. A run of fewer than two items never
    starts a worker. Workers are forked when the caller has a single thread (cheap: they
    inherit what is already imported) and spawned otherwise.
    """

    def __init__(self, workers: int | None = None, *, window: int = 4) -> None:
        if workers is not None and workers < 1:
            raise InvalidInput("the number of workers must be at least 1")
        self.workers = default_workers() if workers is None else workers
        self.window = max(1, window)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Outcome[T, R]]:
        source = iter(items)
        head = list(islice(source, 2))
        if self.workers == 1 or len(head) < 2:
            for item in chain(head, source):
                yield _call(fn, item)
            return
        yield from self._pooled(fn, chain(head, source))

    def _pooled(self, fn: Callable[[T], R], source: Iterator[T]) -> Iterator[Outcome[T, R]]:
        # imported here: a run of one file (the common case in scripts) never pays for them
        import multiprocessing
        import threading
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        method = "fork" if threading.active_count() == 1 else "spawn"
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                   initializer=_worker_init)
        pending: dict[Future[Outcome[T, R]], T] = {}
        limit = self.workers * self.window
        try:
            while True:
                for item in islice(source, limit - len(pending)):
                    try:
                        pending[pool.submit(_call, fn, item)] = item
                    except BrokenProcessPool as broken:  # a worker died: say so per item
                        yield _failed(item, broken)
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    error = future.exception()
                    yield _failed(item, error) if error is not None else future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def make_executor(workers: int | None = None) -> Executor:
    """The executor commands use: the one place that chooses the engine.

    Today always a :class:`LocalExecutor` (``workers`` processes; ``None``: one per CPU).
    A distributed engine is added here (for instance a ``DaskExecutor`` when a scheduler
    address is configured), and every command that takes many files gets it unchanged.
    """
    return LocalExecutor(workers)
