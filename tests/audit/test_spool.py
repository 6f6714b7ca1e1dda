"""The SQLite spool: durable rows per sink, removed only when delivered; backoff; leases;
threads and fork; status report; a spool that cannot be written is InvalidInput."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from dicomsec.audit.spool import Spool, SpoolStatus
from dicomsec.errors import InvalidInput


def test_rows_per_sink_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    ids = [spool.add("a", b"%d" % i) for i in range(5)]
    spool.add("b", b"other")
    assert [p for _, p in spool.pending("a")] == [b"0", b"1", b"2", b"3", b"4"]
    assert spool.pending("a", 2) == [(ids[0], b"0"), (ids[1], b"1")]
    spool.remove(ids[:3])
    assert [p for _, p in spool.pending("a")] == [b"3", b"4"]
    assert spool.depth("a") == 2 and spool.depth("b") == 1
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in spool.folder.iterdir()}
    assert modes == {"spool.sqlite3": "0o600", "spool.sqlite3-wal": "0o600",
                     "spool.sqlite3-shm": "0o600"}
    assert oct(spool.folder.stat().st_mode & 0o777) == "0o700"
    db = sqlite3.connect(spool.path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # another connection (another process) sees the rows: they are on disk
    assert db.execute("SELECT COUNT(*) FROM queue").fetchone() == (3,)


def test_status_and_backoff(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add("tls", b"x")
    assert spool.due("tls")
    spool.note("tls", delivered=0, error="cannot connect")
    spool.note("tls", delivered=0, error="cannot connect")
    assert not spool.due("tls")
    status = spool.status()
    assert isinstance(status, SpoolStatus) and not status.ok
    (sink,) = status.sinks
    assert (sink.depth, sink.failures, sink.last_error) == (1, 2, "cannot connect")
    assert sink.oldest is not None and sink.next_attempt is not None
    data = status.to_dict()
    assert list(data)[:2] == ["schema", "ok"] and data["depth"] == 1
    assert status.summary().startswith("FAIL spool depth=1")
    with pytest.raises(InvalidInput):
        status.raise_for_failure()
    spool.note("tls", delivered=1, error=None)
    after = spool.status()
    assert after.ok and after.sinks[0].failures == 0 and after.sinks[0].delivered == 1
    assert spool.due("tls")


def test_lease_one_flusher_at_a_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.lease("s", "one", 30)
    assert not spool.lease("s", "two", 30)
    assert spool.lease("s", "one", 30)  # the holder extends it
    spool.release("s", "one")
    assert spool.lease("s", "two", 0.01)
    time.sleep(0.05)
    assert spool.lease("s", "three", 30)  # ran out


def test_lease_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    pid = os.fork()
    if pid == 0:  # the child takes the lease and dies without releasing it
        code = 0 if Spool(tmp_path).lease("s", "child", 3600) else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert spool.lease("s", "parent", 30)


def test_threads_and_fork_share_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add("s", b"before fork")

    def add(n: int) -> None:
        for i in range(20):
            spool.add("s", b"thread %d %d" % (n, i))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    pid = os.fork()  # while other threads use the connection and its lock
    if pid == 0:
        try:
            spool.add("s", b"child")
            os._exit(0 if spool.depth("s") >= 2 else 1)
        except BaseException:
            os._exit(2)
    for t in threads:
        t.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    payloads = [p for _, p in spool.pending("s", 1000)]
    assert len(payloads) == 1 + 80 + 1 and b"child" in payloads


def test_unwritable_spool_is_invalid_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidInput, match="audit spool folder"):
        Spool(blocker / "s")
    folder = tmp_path / "db-is-folder"
    (folder / "spool.sqlite3").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="audit spool"):
        Spool(folder)


def test_sync_fsyncs_the_log_when_a_reader_blocks_the_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader's snapshot stops a PASSIVE checkpoint (which then syncs nothing): sync()
    fsyncs the -wal file itself."""
    Spool(tmp_path).close()
    reader = sqlite3.connect(tmp_path / "spool.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM queue").fetchone()  # a snapshot held
    spool = Spool(tmp_path)
    spool.add("x", b"second")
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    spool.close()
    assert any(p.endswith("spool.sqlite3-wal") for p in synced), synced
    reader.close()


def test_a_batch_is_bounded_by_bytes(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add_many([("a", b"x" * 400_000)] * 5)
    assert [len(p) for _, p in spool.pending("a")] == [400_000, 400_000]  # 1 MiB
    assert len(spool.pending("a", max_bytes=10)) == 1  # the first row always
    assert len(spool.pending("a", 3, max_bytes=1 << 30)) == 3
