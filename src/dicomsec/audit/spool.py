"""The persistent audit spool: every record waits here until its sink has taken it.

One SQLite database (``spool.sqlite3`` in the spool folder; default
``<state folder>/audit-spool``), journal mode WAL with ``synchronous=NORMAL`` and a busy
timeout, so that commands, services and their threads share it. Durability: a record that
:meth:`Spool.add` returned for is in the write-ahead log, so the process dying right after
(``kill -9``, a crash) loses nothing; :meth:`Spool.sync` (called by :meth:`Spool.close`, so at
the end of every command, and by services after each background flush) fsyncs the ``-wal``
file, after which a power cut loses nothing either. A :meth:`Spool.pending` batch holds at
most 100 rows and 1 MiB (beyond its first row). Decision: ``FULL`` (an fsync per commit)
cost 5-7 ms per record, 7 s of a 1,000-file de-identification batch; the window it closes (a
power cut during the command) is the one in which the command's own outputs are not durable either.

Rows are kept per sink (the sink's ``name``, the URL without query secrets) in the order they
were added, and leave only through :meth:`Spool.remove`, which the trail calls with the ids
that the sink's ``deliver()`` took. Each sink has a row of its own state: the last delivery,
the last error, the number of failed attempts in a row and the time of the next attempt
(exponential backoff: 1 s doubled per failure up to 5 minutes; :meth:`Spool.due`), and a
lease: :meth:`Spool.lease` lets one flusher at a time send a sink's rows (so that two
processes do not send the same rows); a lease whose holder died (same host, process gone)
or whose time ran out is taken over.

Fork: a connection is never shared with a child; each method reopens it in a process that is
not the one that opened it. Threads: one connection per process, guarded by a lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec.errors import InvalidInput

if TYPE_CHECKING:
    from dicomsec.audit._reports import SinkStatus, SpoolStatus

__all__ = ["SinkStatus", "Spool", "SpoolStatus"]

FILE_NAME = "spool.sqlite3"
#: exponential backoff after failed attempts: first wait and cap (seconds)
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
BUSY_TIMEOUT_MS = 10_000
#: the most payload bytes one :meth:`Spool.pending` batch holds (beyond its first row)
BATCH_BYTES = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_sink ON queue (sink, id);
CREATE TABLE IF NOT EXISTS sinks (
    sink TEXT PRIMARY KEY,
    last_delivery REAL,
    last_error TEXT,
    last_error_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    lease_host TEXT,
    lease_pid INTEGER,
    lease_token TEXT,
    lease_until REAL NOT NULL DEFAULT 0
);
"""


def _hostname() -> str:
    """This host's name (``socket.gethostname()``, without importing socket)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def __getattr__(name: str) -> Any:
    """``SpoolStatus`` and ``SinkStatus`` live in :mod:`dicomsec.audit._reports` (imported on
    first use)."""
    if name in ("SpoolStatus", "SinkStatus"):
        from dicomsec.audit import _reports

        return getattr(_reports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: connections inherited through fork: kept referenced in the child, never used nor closed
#: (closing one could checkpoint the WAL under the parent's feet)
_INHERITED: list[sqlite3.Connection] = []


def _before_fork(ref: weakref.ReferenceType[Spool]) -> None:
    """No transaction of this process may be half-way at fork: hold the lock across it."""
    spool = ref()
    if spool is not None:
        spool._lock.acquire()


def _after_fork_parent(ref: weakref.ReferenceType[Spool]) -> None:
    spool = ref()
    if spool is not None:
        spool._lock.release()


def _after_fork_child(ref: weakref.ReferenceType[Spool]) -> None:
    """In a forked child: a new lock and no connection (the next call opens its own)."""
    spool = ref()
    if spool is not None:
        spool._lock = threading.RLock()
        if spool._db is not None:
            _INHERITED.append(spool._db)
        spool._db = None


class Spool:
    """The SQLite spool in ``folder`` (created 0700 when missing).

    Raises:
        InvalidInput: the folder or the database cannot be created, opened or written.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / FILE_NAME
        self._lock = threading.RLock()
        self._pid = -1
        self._db: sqlite3.Connection | None = None
        ref = weakref.ref(self)
        os.register_at_fork(before=lambda: _before_fork(ref),
                            after_in_parent=lambda: _after_fork_parent(ref),
                            after_in_child=lambda: _after_fork_child(ref))
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise InvalidInput(f"cannot create the audit spool folder: {exc.strerror or exc}",
                               path=str(self.folder)) from None
        with self._tx() as db:  # creates the tables; proves we can write
            db.execute("UPDATE sinks SET failures = failures WHERE 0")

    # --- the connection --------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            # 0600 before SQLite opens it: its -wal and -shm files take the same mode (the
            # rows hold patient identifiers)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            raise InvalidInput(f"cannot create the audit spool: {exc.strerror or exc}",
                               path=str(self.path)) from None
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                 isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise InvalidInput(f"cannot open the audit spool: {exc}", path=str(self.path)) from None
        return db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            # never use a connection inherited through fork (its locks belong to the parent)
            self._db = self._connect()
            self._pid = os.getpid()
        return self._db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction under the lock; InvalidInput on any SQLite error."""
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise InvalidInput(f"audit spool not writable: {exc}",
                                   path=str(self.path)) from None

    def sync(self) -> None:
        """Make every record added so far survive a power cut: one fsync of the ``-wal`` file
        (with ``synchronous=NORMAL`` every commit is in the log, which SQLite replays when
        the database is next opened; the log is copied into the database by SQLite's own
        checkpoints, which sync both files). One fsync instead of a checkpoint's two, in the
        path of every command. Never raises."""
        with self._lock:
            if self._db is None or self._pid != os.getpid():
                return
            self._fsync_wal()

    def _fsync_wal(self) -> None:
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sync()
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    # --- rows ------------------------------------------------------------------------------

    def add(self, sink: str, payload: bytes) -> int:
        """Store one payload for ``sink``; durable when this returns. Returns its id."""
        return self.add_many([(sink, payload)])[0]

    def add_many(self, rows: Sequence[tuple[str, bytes]]) -> list[int]:
        """Store several ``(sink, payload)`` rows in one transaction (all or none)."""
        now = time.time()
        ids: list[int] = []
        with self._tx() as db:
            for sink, payload in rows:
                cur = db.execute("INSERT INTO queue (sink, payload, created) VALUES (?, ?, ?)",
                                 (sink, payload, now))
                ids.append(int(cur.lastrowid or 0))
        return ids

    def pending(self, sink: str, limit: int = 100,
                max_bytes: int = BATCH_BYTES) -> list[tuple[int, bytes]]:
        """The oldest rows of ``sink``, ``(id, payload)``, in the order added: at most
        ``limit`` rows and, beyond the first row, at most ``max_bytes`` of payload."""
        with self._lock:
            try:
                rows = self._conn().execute(
                    "SELECT q.id, q.payload FROM queue AS q JOIN ("
                    " SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n,"
                    " SUM(length(payload)) OVER (ORDER BY id) AS total"
                    " FROM queue WHERE sink = ? ORDER BY id LIMIT ?) AS w ON q.id = w.id"
                    " WHERE w.n = 1 OR w.total <= ? ORDER BY q.id",
                    (sink, limit, max_bytes)).fetchall()
            except sqlite3.Error as exc:
                raise InvalidInput(f"audit spool not readable: {exc}",
                                   path=str(self.path)) from None
        return [(int(i), bytes(p)) for i, p in rows]

    def depth(self, sink: str) -> int:
        """How many rows of ``sink`` wait."""
        with self._lock:
            try:
                (n,) = self._conn().execute("SELECT COUNT(*) FROM queue WHERE sink = ?",
                                            (sink,)).fetchone()
            except sqlite3.Error as exc:
                raise InvalidInput(f"audit spool not readable: {exc}",
                                   path=str(self.path)) from None
        return int(n)

    def sinks(self) -> list[str]:
        """Every sink that has rows waiting or a state."""
        with self._lock:
            found = self._conn().execute(
                "SELECT sink FROM queue UNION SELECT sink FROM sinks").fetchall()
        return sorted(str(s) for (s,) in found)

    def remove(self, ids: Sequence[int]) -> None:
        """Remove delivered rows."""
        if not ids:
            return
        with self._tx() as db:
            db.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])

    def settle(self, sink: str, ids: Sequence[int], *, error: str | None,
               release: str | None = None) -> int:
        """:meth:`remove` the delivered ``ids``, :meth:`note` the attempt and, given the
        lease's token, :meth:`release` it, in one transaction; returns the rows of ``sink``
        still waiting."""
        with self._tx() as db:
            db.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])
            self._note(db, sink, len(ids), error)
            if release is not None:
                self._release(db, sink, release)
            (n,) = db.execute("SELECT COUNT(*) FROM queue WHERE sink = ?", (sink,)).fetchone()
        return int(n)

    # --- per-sink state --------------------------------------------------------------------

    def note(self, sink: str, *, delivered: int, error: str | None) -> None:
        """Record an attempt: deliveries reset the backoff; an error doubles it."""
        with self._tx() as db:
            self._note(db, sink, delivered, error)

    @staticmethod
    def _note(db: sqlite3.Connection, sink: str, delivered: int, error: str | None) -> None:
        now = time.time()
        db.execute("INSERT OR IGNORE INTO sinks (sink) VALUES (?)", (sink,))
        if delivered:
            db.execute("UPDATE sinks SET last_delivery = ?, delivered = delivered + ? "
                       "WHERE sink = ?", (now, delivered, sink))
        if error is None:
            db.execute("UPDATE sinks SET last_error = NULL, failures = 0, next_attempt = 0 "
                       "WHERE sink = ?", (sink,))
            return
        (failures,) = db.execute("SELECT failures FROM sinks WHERE sink = ?",
                                 (sink,)).fetchone()
        wait = min(BACKOFF_FIRST * 2 ** min(int(failures), 20), BACKOFF_MAX)
        db.execute("UPDATE sinks SET last_error = ?, last_error_at = ?, failures = failures + 1, "
                   "next_attempt = ? WHERE sink = ?", (error, now, now + wait, sink))

    def due(self, sink: str) -> bool:
        """Whether the backoff of ``sink`` lets an attempt run now."""
        with self._lock:
            row = self._conn().execute("SELECT next_attempt FROM sinks WHERE sink = ?",
                                       (sink,)).fetchone()
        return row is None or float(row[0]) <= time.time()

    def lease(self, sink: str, token: str, seconds: float) -> bool:
        """Take (or extend) the right to send ``sink``'s rows for ``seconds``; ``False`` when
        another live flusher holds it."""
        return self.take(sink, token, seconds, backoff=False) is None

    def take(self, sink: str, token: str, seconds: float, *, backoff: bool) -> str | None:
        """:meth:`lease`, and (``backoff``) :meth:`due`, in one transaction: ``None`` when
        the lease is ours, else why not (``"backoff"``, ``"another process is sending"``)."""
        now, host, pid = time.time(), _hostname(), os.getpid()
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO sinks (sink) VALUES (?)", (sink,))
            held = db.execute("SELECT lease_host, lease_pid, lease_token, lease_until, "
                              "next_attempt FROM sinks WHERE sink = ?", (sink,)).fetchone()
            l_host, l_pid, l_token, until, next_attempt = held
            if backoff and float(next_attempt) > now:
                return "backoff"
            free = (l_token is None or l_token == token or float(until) <= now
                    or (l_host == host and l_pid != pid and not _pid_alive(int(l_pid))))
            if not free:
                return "another process is sending"
            db.execute("UPDATE sinks SET lease_host = ?, lease_pid = ?, lease_token = ?, "
                       "lease_until = ? WHERE sink = ?", (host, pid, token, now + seconds, sink))
        return None

    def release(self, sink: str, token: str) -> None:
        with self._tx() as db:
            self._release(db, sink, token)

    @staticmethod
    def _release(db: sqlite3.Connection, sink: str, token: str) -> None:
        db.execute("UPDATE sinks SET lease_host = NULL, lease_pid = NULL, "
                   "lease_token = NULL, lease_until = 0 WHERE sink = ? AND lease_token = ?",
                   (sink, token))

    def status(self) -> SpoolStatus:
        """Depth, oldest row, last delivery and last error of every sink."""
        from dicomsec.audit._reports import SinkStatus, SpoolStatus
        from dicomsec.audit._reports import iso as _iso
        with self._lock:
            db = self._conn()
            depth = {s: (n, o) for s, n, o in db.execute(
                "SELECT sink, COUNT(*), MIN(created) FROM queue GROUP BY sink")}
            state = {r[0]: r[1:] for r in db.execute(
                "SELECT sink, last_delivery, last_error, failures, next_attempt, delivered "
                "FROM sinks")}
        found = []
        for sink in sorted({*depth, *state}):
            n, oldest = depth.get(sink, (0, None))
            last, error, failures, next_at, delivered = state.get(sink, (None, None, 0, 0, 0))
            found.append(SinkStatus(sink, int(n), _iso(oldest), _iso(last), error,
                                    int(failures), _iso(next_at) if next_at else None,
                                    int(delivered)))
        return SpoolStatus(str(self.path), tuple(found))
