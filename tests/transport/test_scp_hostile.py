"""Issue 8, item 5 (a reviewer's findings): hostile DIMSE input on an established association
ends that association with a logged A-ABORT, never with a thread's traceback; requests left
waiting when an association ends give back their spool files and memory at once; a spool
that cannot be written answers "out of resources" (0xA700).

The hostile inputs go to a real ``dicomsec scp`` child from a raw TLS client, each on its own
association, and a valid ``dicomsec send`` is served afterwards; the spool and budget checks
run against ``make_scp`` in process. Nothing here measures time: waits are bounded polls.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydicom.uid import generate_uid

from dicomsec import limits
from dicomsec.transport import _pynetdicom, dimse
from dicomsec.transport._pynetdicom import MemoryBudget, _command, c_store_rq_command
from dicomsec.trust import TrustStore
from tests.transport.test_dimse import Pki, running_scp
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture
from tests.transport.test_scp_hardening import _ct_file, _recv_pdu, _send_ok, _tls_connection
from tests.transport.test_scp_memory import (
    CT_STORAGE,
    _associate,
    _dataset_head,
    _pdata,
    _spool_files,
    _store_status,
)


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def _rsp(sop_class: bytes, sop_instance: bytes) -> bytes:
    """A C-STORE-RSP command set with these raw UID values."""
    return _command([(0x0002, sop_class), (0x0100, _us(0x8001)), (0x0120, _us(1)),
                     (0x0800, _us(0x0101)), (0x0900, _us(0)), (0x1000, sop_instance)])


def _rq(sop_instance: bytes) -> bytes:
    """A C-STORE-RQ command set with this raw SOP Instance UID value."""
    return _command([(0x0002, CT_STORAGE.encode() + b"\0"), (0x0100, _us(1)),
                     (0x0110, _us(1)), (0x0700, _us(2)), (0x0800, _us(1)),
                     (0x1000, sop_instance)])


#: one hostile input per association, sent once it is established
HOSTILE = {
    "rsp-non-ascii-uid": _pdata((0x03, _rsp(b"1.2\xff\xfe", b"1.2\xff\xfe"))),
    "rsp-uid-over-64": _pdata((0x03, _rsp(b"1" * 70, b"1.2"))),
    "split-garbage-command": _pdata((0x01, b"\xff" * 20)) + _pdata((0x03, b"\x00" * 10)),
    "split-non-ascii-rq": (_pdata((0x01, _rq(b"1.2\xff\xfe")[:20]))
                           + _pdata((0x03, _rq(b"1.2\xff\xfe")[20:]))),
    "pdv-of-its-header-only": _pdata((0x03, b"")),
}


#: inputs pynetdicom takes, with a warning we silence (its UID check is lenient): the
#: association goes on (a C-STORE-RSP is ignored; the C-STORE-RQ awaits its data set, whose
#: store would be refused for its UID), and the client aborts it after a short wait
TAKEN = frozenset({"rsp-non-ascii-uid", "split-non-ascii-rq"})


def _until_closed(sock: ssl.SSLSocket) -> bool:
    """Read until the server's A-ABORT (or A-RELEASE-RP) or close: True; False when it sent
    nothing for 2 s (the client then sends an A-ABORT itself)."""
    sock.settimeout(2)
    try:
        while _recv_pdu(sock)[0] not in (0x06, 0x07):
            pass
    except TimeoutError:
        sock.sendall(b"\x07\x00" + struct.pack(">L", 4) + bytes(4))
        return False
    except (OSError, ConnectionError):
        pass
    return True


def test_hostile_dimse_input_is_aborted_and_logged(pki: Pki, tmp_path: Path) -> None:
    out = tmp_path / "out"
    uid = generate_uid()
    valid = _ct_file(tmp_path / "in", "valid.dcm", uid)
    with running_scp(pki, out, "b12") as scp:
        for name, payload in HOSTILE.items():
            start = len(scp.lines)
            with _tls_connection(pki, scp.port) as sock:
                _associate(sock)
                sock.sendall(payload)
                if not _until_closed(sock) and name not in TAKEN:
                    raise AssertionError(f"{name}: the server did not end the association")
            line = scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+.*", start=start).group(0)
            assert "A-ABORT" in line or "aborted" in line, (name, line)
        _send_ok(pki, scp.port, [valid])  # the server still serves others
    text = "\n".join(scp.lines)
    assert "Traceback" not in text and "Warning" not in text, text
    assert os.listdir(out) == [f"{uid}.dcm"]


# ------------------------------------------------------------------------------------------
# in process: spool files and memory after an abort, a spool that cannot be written


class _Budgets(MemoryBudget):
    made: ClassVar[list[MemoryBudget]] = []

    def __init__(self, limit: int = _pynetdicom.SPOOL_MEMORY_TOTAL) -> None:
        super().__init__(limit)
        _Budgets.made.append(self)


@contextlib.contextmanager
def _scp(pki: Pki, out: Path, events: list[dimse.ScpEvent],
         **bounds: int) -> Iterator[dimse.DimseServer]:
    out.mkdir(exist_ok=True)
    with limits.applied(limits.current().replaced(**bounds)), \
            dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))],
                           TrustStore.from_paths([pki.ca]), out, host="127.0.0.1", port=0,
                           on_event=events.append, require_profile_config=False) as server:
        yield server


def _poll(check: Any, what: Any, polls: int = 400) -> None:
    for _ in range(polls):
        if check():
            return
        time.sleep(0.025)
    raise AssertionError(what())


@pytest.mark.parametrize("spool_bytes", [1024, 64 << 10], ids=["files", "memory"])
def test_requests_left_after_an_abort_are_freed(pki: Pki, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                spool_bytes: int) -> None:
    """15 C-STOREs of 8 KiB sent at once, then an A-ABORT: the requests still waiting give
    back their spool files (``spool_bytes`` 1 KiB) or memory (64 KiB) without a garbage
    collection."""
    monkeypatch.setattr(dimse, "MemoryBudget", _Budgets)
    _Budgets.made.clear()
    out = tmp_path / "out"
    burst = b""
    for n in range(15):
        uid = generate_uid()
        burst += _pdata((0x03, c_store_rq_command(CT_STORAGE, uid, n + 1)))
        burst += _pdata((0x02, _dataset_head(uid, 8192) + bytes(8192)))
    burst += b"\x07\x00" + struct.pack(">L", 4) + bytes(4)  # A-ABORT
    events: list[dimse.ScpEvent] = []
    import gc

    gc.disable()  # what is freed here is freed without a cyclic collection
    try:
        with _scp(pki, out, events, spool_bytes=spool_bytes) as server:
            with _tls_connection(pki, server.port) as sock:
                _associate(sock)
                sock.sendall(burst)
            [budget] = _Budgets.made
            _poll(lambda: not _spool_files(os.getpid(), out) and budget.used == 0,
                  lambda: f"spool files {_spool_files(os.getpid(), out)}, "
                          f"budget {budget.used}")
    finally:
        gc.enable()
    assert any(e.kind == "aborted" for e in events), events


def test_a_spool_that_cannot_be_written_answers_out_of_resources(pki: Pki,
                                                                  tmp_path: Path) -> None:
    """The output folder gone while the SCP runs: a data set over ``spool_bytes`` cannot be
    spooled, and the answer is 0xA700 (out of resources), not a data set mismatch."""
    out = tmp_path / "out"
    events: list[dimse.ScpEvent] = []
    uid = generate_uid()
    with _scp(pki, out, events, spool_bytes=1024) as server:
        out.rmdir()
        with _tls_connection(pki, server.port) as sock:
            _associate(sock)
            sock.sendall(_pdata((0x03, c_store_rq_command(CT_STORAGE, uid, 1))))
            sock.sendall(_pdata((0x02, _dataset_head(uid, 8192) + bytes(8192))))
            assert _store_status(sock) == 0xA700
        out.mkdir()
    failed = [e.detail for e in events if e.kind == "store-failed"]
    assert len(failed) == 1 and "No such file or directory" in failed[0], events


# ------------------------------------------------------------------------------------------
# a hostile server: send ends with exit 1 and one line


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def _associate_ac(rq_body: bytes) -> bytes:
    """An A-ASSOCIATE-AC accepting every context of this A-ASSOCIATE-RQ body (explicit VR
    little endian where proposed, else the first transfer syntax)."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ

    rq = A_ASSOCIATE_RQ()
    rq.decode(b"\x01\x00" + struct.pack(">L", len(rq_body)) + rq_body)
    contexts = b""
    for cx in rq.presentation_context:
        syntaxes = [str(s) for s in cx.transfer_syntax]
        chosen = "1.2.840.10008.1.2.1" if "1.2.840.10008.1.2.1" in syntaxes else syntaxes[0]
        contexts += _item(0x21, struct.pack(">BBBB", cx.context_id, 0, 0, 0)
                          + _item(0x40, chosen.encode()))
    body = (struct.pack(">HH", 1, 0) + rq_body[4:36] + bytes(32)
            + _item(0x10, b"1.2.840.10008.3.1.1.1") + contexts
            + _item(0x50, _item(0x51, struct.pack(">L", 16384))))
    return b"\x02\x00" + struct.pack(">L", len(body)) + body


def _hostile_server(pki: Pki, answer: bytes) -> tuple[int, Any]:
    """A TLS server on 127.0.0.1 that accepts one association and answers its first
    complete C-STORE-RQ with ``answer``; its port and thread."""
    import socket
    import threading

    from dicomsec.transport import tls

    ctx = tls.server_context("b12", [(pki.cert("server-ec"), pki.key("server-ec"))],
                             TrustStore.from_paths([pki.ca]))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        with listener, contextlib.suppress(OSError, ConnectionError):
            raw, _ = listener.accept()
            raw.settimeout(30)
            with ctx.wrap_socket(raw, server_side=True) as sock:
                pdu_type, body = _recv_pdu(sock)
                assert pdu_type == 0x01
                sock.sendall(_associate_ac(body))
                while True:  # until the data set's last fragment
                    pdu_type, body = _recv_pdu(sock)
                    if pdu_type == 0x04 and body[5] == 0x02:
                        break
                sock.sendall(answer)
                while (pdu_type := _recv_pdu(sock)[0]) != 0x07:
                    if pdu_type == 0x05:  # A-RELEASE-RQ: A-RELEASE-RP
                        sock.sendall(b"\x06\x00" + struct.pack(">L", 4) + bytes(4))
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


@pytest.mark.parametrize("name", ["rsp-non-ascii-uid", "rsp-uid-over-64",
                                  "pdv-of-its-header-only"])
def test_send_to_a_hostile_server_fails_cleanly(pki: Pki, tmp_path: Path, name: str) -> None:
    from tests.transport.test_dimse import _cli

    valid = _ct_file(tmp_path / "in", "valid.dcm", generate_uid())
    port, thread = _hostile_server(pki, HOSTILE[name])
    proc = _cli("send", "--host", "127.0.0.1", "--port", str(port), "--profile", "b12",
                "--aec", "DICOMSEC", *pki.client_args(), str(valid))
    thread.join(30)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------
# small items: the floor of other messages, the budget's lock, a named temporary's mode


def test_a_tiny_spool_bytes_still_serves_echo(pki: Pki, tmp_path: Path) -> None:
    """``spool_bytes`` bounds C-STORE data sets held in memory; other messages (a C-ECHO's
    command set) have a floor of 64 KiB, so even ``--limit spool_bytes=64`` echoes."""
    from tests.transport.test_dimse import _cli

    with running_scp(pki, tmp_path / "out", "b12", "--limit", "spool_bytes=64") as scp:
        proc = _cli("echo", "--host", "127.0.0.1", "--port", str(scp.port), "--aec",
                    "DICOMSEC", "--profile", "b12", *pki.client_args())
        assert proc.returncode == 0, (proc.stderr, scp.lines)
    assert not [line for line in scp.lines if line.startswith("ABORT")], scp.lines


def test_the_budget_is_given_back_inside_its_own_lock() -> None:
    """A spool's ``__del__`` may run from a garbage collection while the same thread holds
    the budget's lock (inside ``take``): ``give`` must not deadlock."""
    budget = MemoryBudget(100)
    assert budget.take(10)
    with budget._lock:  # as a collection inside take() would
        budget.give(10)
    assert budget.used == 0


def test_a_named_temporary_stays_private_until_linked(tmp_path: Path) -> None:
    """The fallback of a named temporary: when the link fails (the target exists), its mode
    is still 0600, never the output's."""
    from dicomsec.transport._groupcommit import GroupCommit, WrittenFile

    tmp = tmp_path / ".received.tmp"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        os.write(fd, b"data")
        target = tmp_path / "a.dcm"
        target.write_bytes(b"existing")
        with pytest.raises(FileExistsError):
            GroupCommit().store(target, WrittenFile(fd, tmp), replace=False)
        assert os.stat(tmp).st_mode & 0o777 == 0o600
        assert target.read_bytes() == b"existing"
        other = tmp_path / "b.dcm"
        GroupCommit().store(other, WrittenFile(fd, tmp), replace=False)
        assert other.read_bytes() == b"data" and not tmp.exists()
    finally:
        os.close(fd)
