"""The one atomic-write helper: modes stay right when several threads publish at once.

``publish`` used to read the umask by setting it to 0 and back: for that moment every other
thread of the process (the SCP's workers) created files with umask 0. It now reads the umask once
at import and never changes it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dicomsec import _atomic
from dicomsec._atomic import atomic_output, atomic_write_bytes


def test_umask_is_never_set_at_run_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.umask

    def spy(mask: int) -> int:
        calls.append(mask)
        return real(mask)

    monkeypatch.setattr(os, "umask", spy)
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic_write_bytes(tmp_path / "a.bin", b"y")  # replaces: keeps the old file's mode
    atomic_write_bytes(tmp_path / "b.bin", b"z", mode=0o600)
    assert calls == []


def test_modes_with_many_threads(tmp_path: Path) -> None:
    expected_default = 0o666 & ~_atomic._UMASK
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def writer(n: int, mode: int | None) -> None:
        try:
            start.wait()
            for i in range(40):
                with atomic_output(tmp_path / f"t{n}-{i}.bin", mode=mode) as fh:
                    fh.write(b"data %d %d" % (n, i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n, None)) for n in range(8)]
    threads.append(threading.Thread(target=writer, args=(99, 0o600)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    files = sorted(tmp_path.iterdir())
    assert len(files) == 9 * 40
    for f in files:
        mode = f.stat().st_mode & 0o7777
        want = 0o600 if f.name.startswith("t99-") else expected_default
        assert mode == want, f"{f.name}: {oct(mode)} != {oct(want)}"
    # no temporary file left behind
    assert not [f for f in files if f.name.startswith(".")]


def test_umask_read_matches_the_process(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    assert _atomic._read_umask() == mask
