"""The one atomic-write helper: modes stay right when several threads publish at once.

``publish`` used to read the umask by setting it to 0 and back: for that moment every other
thread of the process (the SCP's workers) created files with umask 0. It now reads the umask once
at import and never changes it.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dicomsec import _atomic
from dicomsec._atomic import atomic_output, atomic_write_bytes
from dicomsec.errors import InvalidInput
from tests.conftest import PYDICOM_FILES


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


# --- no file that is not yet proven ever has a name (issue 8, item 1) -----------------------


def test_output_has_no_name_until_published(tmp_path: Path) -> None:
    target = tmp_path / "out.dcm"
    with atomic_output(target) as fh:
        fh.write(b"unproven")
        fh.flush()
        assert os.listdir(tmp_path) == []  # O_TMPFILE: no directory entry at all
        assert os.fstat(fh.fileno()).st_mode & 0o7777 == 0o600
        with open(fh.name, "rb") as again:  # its name reopens it (sign's self-check does)
            assert again.read() == b"unproven"
    assert os.listdir(tmp_path) == ["out.dcm"]
    assert target.read_bytes() == b"unproven"


def test_failed_block_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "out.dcm").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.dcm") as fh:
        fh.write(b"new")
        raise RuntimeError("check failed")
    assert os.listdir(tmp_path) == ["out.dcm"]
    assert (tmp_path / "out.dcm").read_bytes() == b"old"


def test_publish_file_without_replace(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first")
    with _atomic.unnamed_file(tmp_path) as fh:
        fh.write(b"second")
        with pytest.raises(FileExistsError):
            _atomic.publish_file(fh, tmp_path / "a", replace=False)
        _atomic.publish_file(fh, tmp_path / "b", replace=False)
    assert (tmp_path / "a").read_bytes() == b"first"
    assert (tmp_path / "b").read_bytes() == b"second"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_mode_rules_and_symlink_targets(tmp_path: Path) -> None:
    """The mode is ``mode``, else the replaced regular file's, else the umask's; a symlink
    output (to a regular file, or dangling) is refused before the block runs: the link and
    the file it points to keep their content and mode."""
    other = tmp_path / "other.dcm"
    other.write_bytes(b"someone else's")
    os.chmod(other, 0o640)
    link = tmp_path / "link.dcm"
    link.symlink_to(other)
    dangling = tmp_path / "dangling.dcm"
    dangling.symlink_to(tmp_path / "nowhere")
    for target in (link, dangling):
        entered = False
        with pytest.raises(InvalidInput, match="symbolic link"), atomic_output(target) as fh:
            entered = True
            fh.write(b"new")
        assert not entered and target.is_symlink()
        with pytest.raises(InvalidInput, match="symbolic link"):
            atomic_write_bytes(target, b"secret", mode=0o600)
    assert other.read_bytes() == b"someone else's"
    assert other.stat().st_mode & 0o7777 == 0o640
    assert not (tmp_path / "nowhere").exists()
    # a regular file keeps its mode when replaced; an explicit mode wins; a new one: the umask's
    atomic_write_bytes(other, b"replaced")
    assert other.stat().st_mode & 0o7777 == 0o640
    atomic_write_bytes(other, b"secret", mode=0o600)
    assert other.stat().st_mode & 0o7777 == 0o600
    atomic_write_bytes(tmp_path / "new.dcm", b"x")
    assert (tmp_path / "new.dcm").stat().st_mode & 0o7777 == _atomic.new_file_mode()
    assert sorted(os.listdir(tmp_path)) == ["dangling.dcm", "link.dcm", "new.dcm", "other.dcm"]


def test_non_regular_target_is_refused_before_work(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    entered = False
    with pytest.raises(InvalidInput, match="FIFO"), atomic_output(fifo):
        entered = True
    assert not entered
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["fifo"]


_DIE_IN_BLOCK = """
import os, signal, sys
from dicomsec import _atomic
_atomic._USE_TMPFILE = False
with _atomic.atomic_output(sys.argv[1]) as fh:
    fh.write(b"plaintext" * 1000)
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_fallback_temporary_is_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where O_TMPFILE is refused, a kill leaves a named 0600 temporary whose name holds the
    pid; the next process's first output in that folder removes it (and only such files of
    dead processes)."""
    folder = tmp_path / "out"
    folder.mkdir()
    child = subprocess.run([sys.executable, "-c", _DIE_IN_BLOCK, str(folder / "x.dcm")],
                           check=False, capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = os.listdir(folder)
    assert len(left) == 1 and re.fullmatch(r"\.x\.dcm\.dicomsec-[0-9]+-[0-9a-f]{12}\.tmp",
                                            left[0]), left
    assert (folder / left[0]).stat().st_mode & 0o7777 == 0o600
    live = folder / f".y.dcm.dicomsec-{os.getpid()}-{'0' * 12}.tmp"  # ours: alive
    live.write_bytes(b"in flight")
    unrelated = folder / ".x.dcm.abcdef.tmp"
    unrelated.write_bytes(b"not ours")

    monkeypatch.setattr(_atomic, "_USE_TMPFILE", False)
    monkeypatch.setattr(_atomic, "_swept", set())
    atomic_write_bytes(folder / "z.dcm", b"z")
    assert sorted(os.listdir(folder)) == sorted([live.name, unrelated.name, "z.dcm"])
    assert (folder / "z.dcm").stat().st_mode & 0o7777 == _atomic.new_file_mode()
    # once per folder per process: a new leftover stays until the next process
    dead = folder / left[0]
    dead.write_bytes(b"left again")
    atomic_write_bytes(folder / "z.dcm", b"zz")
    assert dead.exists()
    assert _atomic.sweep(folder) == [dead]
    # a failed block in the fallback removes its temporary
    with pytest.raises(RuntimeError), atomic_output(folder / "w.dcm") as fh:
        fh.write(b"w")
        raise RuntimeError
    assert sorted(os.listdir(folder)) == sorted([live.name, unrelated.name, "z.dcm"])


def test_unwrap_in_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback keeps every promise but the kill one: a failed unwrap leaves nothing, a
    good one publishes 0600 plaintext and no temporary."""
    from dicomsec.cli import main

    kek = tmp_path / "kek.hex"
    kek.write_text("00" * 32)
    wrong = tmp_path / "wrong.hex"
    wrong.write_text("01" * 32)
    secure = tmp_path / "ct.dcm.p7"
    assert main(["wrap", str(PYDICOM_FILES / "CT_small.dcm"), "-o", str(secure),
                 "--kek-file", str(kek), "--kek-id", "0a"]) == 0
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(_atomic, "_USE_TMPFILE", False)
    monkeypatch.setattr(_atomic, "_swept", set())
    assert main(["unwrap", str(secure), "-o", str(out / "ct.dcm"), "--kek-file", str(wrong),
                 "--kek-id", "0a"]) == 1
    assert os.listdir(out) == []
    assert main(["unwrap", str(secure), "-o", str(out / "ct.dcm"), "--kek-file", str(kek),
                 "--kek-id", "0a"]) == 0
    assert os.listdir(out) == ["ct.dcm"]
    assert (out / "ct.dcm").stat().st_mode & 0o7777 == 0o600
    assert (out / "ct.dcm").read_bytes() == (PYDICOM_FILES / "CT_small.dcm").read_bytes()


@pytest.mark.parametrize("unnamed", [True, False])
def test_group_commit_stores_leave_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                unnamed: bool) -> None:
    """The SCP's group commit: stores in unnamed files (or the fallback), link-if-absent for
    the duplicate policy, the replaced file's mode kept, nothing else left in the folder."""
    from dicomsec.transport._groupcommit import GroupCommit

    monkeypatch.setattr(_atomic, "_USE_TMPFILE", unnamed)
    monkeypatch.setattr(_atomic, "_swept", set())
    commit = GroupCommit()
    commit.store(tmp_path / "a.dcm", [b"first", memoryview(b"!")])
    with pytest.raises(FileExistsError):
        commit.store(tmp_path / "a.dcm", [b"second"], replace=False)
    assert (tmp_path / "a.dcm").read_bytes() == b"first!"
    os.chmod(tmp_path / "a.dcm", 0o640)
    commit.store(tmp_path / "a.dcm", [b"third"])
    assert (tmp_path / "a.dcm").read_bytes() == b"third"
    assert (tmp_path / "a.dcm").stat().st_mode & 0o7777 == 0o640
    commit.store(tmp_path / "b.dcm", [b"b"], replace=False)
    assert (tmp_path / "b.dcm").stat().st_mode & 0o7777 == _atomic.new_file_mode()
    os.mkfifo(tmp_path / "c.dcm")
    with pytest.raises(OSError, match="FIFO"):
        commit.store(tmp_path / "c.dcm", [b"c"])
    assert sorted(os.listdir(tmp_path)) == ["a.dcm", "b.dcm", "c.dcm"]
