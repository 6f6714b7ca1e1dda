"""The audit trail: what the command line tool and the services hand their events to.

:func:`open_trail` resolves the configuration (:mod:`dicomsec.audit._config`: the caller's
URLs, ``DICOMSEC_AUDIT``, the config file, else the file sink in the state folder), opens the
spool and parses the sinks. :meth:`Trail.handle` (the trail's one handler) builds the DICOM
messages of an event, asks each sink for its payload and stores them all in the spool in one
transaction; it never raises: a failure is one line in :attr:`Trail.errors` (a command must
then fail: a security operation without its audit record does not silently succeed).

Nothing is sent by :meth:`Trail.handle`. :meth:`Trail.flush` sends what waits in the spool,
sink by sink in the order spooled, bounded by a deadline; rows leave the spool only when the
sink took them. :meth:`Trail.close` flushes within ``bound`` seconds IN TOTAL (a dead receiver
costs a command at most that: the connect, the handshake and every read and write are bounded
by the same deadline) and respects each sink's backoff; whatever was not delivered waits for
the next command, the background flusher of a service or ``dicomsec audit flush``.
:meth:`Trail.start_background` delivers periodically from a daemon thread (services).

A delivery costs one read and two SQLite transactions per sink in the usual case: the lease
is taken together with the backoff check, and released together with the last batch's removal
and note. A receiver that does not confirm (no close after our close_notify by the deadline)
keeps its rows (an error; a later duplicate is allowed).

Delivery is at least once. A duplicate happens when a process dies (``kill -9``, a crash, a
power cut) or loses its connection after the destination took a batch and before the spool
removed it; that batch is sent again by the next flush (TLS: at most the one batch in flight,
up to 100 records and 1 MiB; file sinks: the lines of that append). Two flushers never send the same
sink's rows at once: each takes the sink's lease in the spool first (a lease of a dead process
on this host is taken over at once, another one after it runs out).

Threads: :meth:`handle`, :meth:`flush` and :meth:`close` may be called from any thread.
Fork: the child reopens the spool's SQLite connection and its locks are fresh; a background
flusher does not survive into the child (start it there again if needed).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec import get_logger
from dicomsec.audit._config import resolve, state_folder
from dicomsec.audit.sinks import Sink, parse_sink
from dicomsec.audit.spool import Spool
from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from dicomsec.audit._reports import FlushReport, SinkFlush
    from dicomsec.audit.messages import AuditSource
    from dicomsec.events import AuditEvent, AuditHandler

__all__ = ["FlushReport", "SinkFlush", "Trail", "open_trail", "state_folder"]

_log = get_logger(__name__)

#: how many spooled rows one deliver() call gets
BATCH = 100
#: the default deadline of an explicit flush (``dicomsec audit flush``), seconds
FLUSH_SECONDS = 30.0
#: how much longer than its deadline a flusher's lease on a sink lasts (seconds)
LEASE_MARGIN = 5.0


#: one sink's part of a flush: SinkFlush's fields (sink, delivered, remaining, error, skipped)
_Row = tuple[str, int, int, "str | None", "str | None"]


def __getattr__(name: str) -> Any:
    """``FlushReport`` and ``SinkFlush`` live in :mod:`dicomsec.audit._reports` (imported on
    first use: a command's close does not build them)."""
    if name in ("FlushReport", "SinkFlush"):
        from dicomsec.audit import _reports

        return getattr(_reports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _reinit_after_fork(ref: weakref.ReferenceType[Trail]) -> None:
    trail = ref()
    if trail is not None:
        trail._after_fork()


class Trail:
    """Sinks, a spool and a source; see the module's docstring. Built by :func:`open_trail`."""

    def __init__(self, sinks: Sequence[Sink], spool: Spool | None, source: AuditSource,
                 bound: float) -> None:
        self.sinks = tuple(sinks)
        self.spool = spool
        self.source = source
        self.bound = bound
        self.errors: list[str] = []
        self.handlers: tuple[AuditHandler, ...] = (self.handle,) if self.sinks else ()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reinit_after_fork(ref))

    @property
    def off(self) -> bool:
        return not self.sinks

    def _after_fork(self) -> None:
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # --- events -> spool -------------------------------------------------------------------

    def handle(self, event: AuditEvent) -> None:
        """Build the event's messages, one payload per sink (and message), spool them all in
        one transaction. Never raises; failures go to :attr:`errors`."""
        if self.spool is None or not self.sinks:
            return
        try:
            from dicomsec.audit.messages import dicom_messages

            messages = dicom_messages(event, self.source)
        except Exception as exc:  # never break the operation: report it
            self._error(f"audit message for {event.operation.value} not built: {exc}")
            return
        rows: list[tuple[str, bytes]] = []
        for sink in self.sinks:
            for message in messages[:1] if sink.per_event else messages:
                try:
                    rows.append((sink.name, sink.payload(event, message, self.source)))
                except Exception as exc:  # over the size limit, invalid FHIR, bad header
                    self._error(f"audit record for {sink.name} refused: {exc}")
        try:
            self.spool.add_many(rows)
        except Exception as exc:
            self._error(f"audit record not spooled: {exc}")

    def _error(self, line: str) -> None:
        self.errors.append(line)
        _log.warning("%s", line)

    # --- spool -> sinks --------------------------------------------------------------------

    def flush(self, deadline: float | None = None, *, force: bool = True) -> FlushReport:
        """Deliver what waits, sink by sink, by ``deadline`` (``time.monotonic()``; default
        now + 30 s). ``force=False`` skips the sinks whose backoff has not run out. Never
        raises (a spool that cannot be read shows as each sink's error)."""
        from dicomsec.audit._reports import FlushReport, SinkFlush

        if deadline is None:
            deadline = time.monotonic() + FLUSH_SECONDS
        return FlushReport(tuple(SinkFlush(*row) for row in self._flush(deadline, force)))

    def _flush(self, deadline: float, force: bool) -> list[_Row]:
        """:meth:`flush` without its report (what :meth:`close` needs: no report classes
        imported by a command that only spools and closes)."""
        if self.spool is None or not self.sinks:
            return []
        if not self._flush_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            return [(s.name, 0, self._depth(s.name), None, "another flush of this trail runs")
                    for s in self.sinks]
        try:
            return [self._flush_sink(sink, deadline, force) for sink in self.sinks]
        finally:
            self._flush_lock.release()

    def _depth(self, name: str) -> int:
        try:
            return self.spool.depth(name) if self.spool else 0
        except InvalidInput:
            return -1

    def _flush_sink(self, sink: Sink, deadline: float, force: bool) -> _Row:
        """One sink: a read (anything waiting?), then one transaction to take the lease (and
        check the backoff), and one per batch to settle it (the last one also releases)."""
        spool = self.spool
        assert spool is not None
        token = os.urandom(8).hex()
        try:
            if not spool.pending(sink.name, 1):
                return sink.name, 0, 0, None, None
            lease = max(deadline - time.monotonic(), 0.0) + LEASE_MARGIN
            refused = spool.take(sink.name, token, lease, backoff=not force)
            if refused is not None:
                return sink.name, 0, self._depth(sink.name), None, refused
        except InvalidInput as exc:
            return sink.name, 0, -1, str(exc), None
        delivered, error, remaining, released = 0, None, -1, False
        try:
            delivered, error, remaining, released = self._send(sink, spool, deadline, token)
        except InvalidInput as exc:
            error = str(exc)
        finally:
            if not released:
                try:
                    spool.release(sink.name, token)
                except InvalidInput as exc:
                    error = error or str(exc)
        if remaining < 0:
            remaining = self._depth(sink.name)
        return sink.name, delivered, remaining, error, None

    def _send(self, sink: Sink, spool: Spool, deadline: float,
              token: str) -> tuple[int, str | None, int, bool]:
        """Batches until the sink's rows are gone, an error or the deadline: (delivered, error,
        rows remaining, whether the lease was released with the last settle)."""
        delivered = 0
        while time.monotonic() < deadline:
            rows = spool.pending(sink.name, BATCH)
            if not rows:
                return delivered, None, 0, False
            try:
                taken = max(0, min(sink.deliver([p for _, p in rows], deadline), len(rows)))
            except Exception as exc:  # a sink must not raise; one that does keeps its rows
                taken, sink.last_error = 0, f"{type(exc).__name__}: {exc}"
            error = None if taken == len(rows) else (sink.last_error or "not all taken")
            # the last batch (short of BATCH rows: the usual case) also releases the lease
            last = error is not None or time.monotonic() >= deadline or len(rows) < BATCH
            remaining = spool.settle(sink.name, [i for i, _ in rows[:taken]], error=error,
                                     release=token if last else None)
            delivered += taken
            if error is not None or not remaining:
                return delivered, error, remaining, last
            if time.monotonic() >= deadline:
                return delivered, "deadline reached", remaining, last
            if last and spool.take(sink.name, token, max(deadline - time.monotonic(), 0.0)
                                   + LEASE_MARGIN, backoff=False) is not None:
                return delivered, None, remaining, True  # rows came in: another flusher has them
        remaining = spool.depth(sink.name)
        return delivered, ("deadline reached" if remaining else None), remaining, False

    # --- life cycle ------------------------------------------------------------------------

    def start_background(self, interval: float = 1.0) -> None:
        """Deliver every ``interval`` seconds from a daemon thread (each round bounded by
        ``bound``, backoff respected) until :meth:`close`."""
        if self.off or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self._flush(time.monotonic() + self.bound, False)
                    if self.spool is not None:
                        self.spool.sync()  # what the service spooled survives a power cut
                except Exception as exc:  # keep the service's flusher alive
                    _log.warning("audit background flush failed: %s", exc)

        self._thread = threading.Thread(target=run, name="dicomsec-audit-flush", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background flusher, flush within ``bound`` seconds in total (backoff
        respected), close the spool. Never raises, never waits longer than ``bound`` (plus
        the few milliseconds of SQLite work)."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.bound
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0.0))
            self._thread = None
        try:
            if self.spool is not None and self.sinks:
                self._flush(deadline, force=False)
        except Exception as exc:  # flush never raises; belt and braces for close()
            _log.warning("audit flush at close failed: %s", exc)
        finally:
            if self.spool is not None:
                self.spool.close()

    def __enter__(self) -> Trail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_trail(urls: Sequence[str] | None = None, spool_dir: Path | None = None, *,
               bound: float | None = None, source: AuditSource | None = None) -> Trail:
    """The trail the configuration asks for (:mod:`dicomsec.audit._config`); ``bound``
    (seconds a close may wait on the sinks; default the config file's, else 2.0).

    Raises:
        InvalidInput: a bad sink URL or config file, a spool that cannot be created or
            written (checked now: before the command does anything).
    """
    config = resolve(urls, spool_dir, bound)
    if source is None:
        from dicomsec.audit.messages import AuditSource

        source = AuditSource.local()
    if config.off:
        return Trail((), None, source, config.bound)
    sinks = [parse_sink(u) for u in config.urls]
    names = [s.name for s in sinks]
    if len(set(names)) != len(names):
        raise InvalidInput("audit: the same sink is configured twice: " + ", ".join(names))
    return Trail(sinks, Spool(config.spool), source, config.bound)
