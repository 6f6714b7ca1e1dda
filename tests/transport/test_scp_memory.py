"""Issue 8, item 5 and "Limits before work": the SCP holds a received data set in bounded
memory.

A data set sent in many P-DATA PDUs, each within the negotiated maximum, is held in memory
only up to a small bound (the limit ``spool_bytes``, 4 MiB); beyond, it is spooled into an
unnamed file (``O_TMPFILE``) in the output folder, which the store links into place. The
server is a ``dicomsec scp`` subprocess on 127.0.0.1; the client is a raw TLS socket that
streams a valid C-STORE whose Pixel Data is generated on the fly (never built whole in the
test's memory) and hashed while it is sent. Memory is the server's peak resident set
(``VmHWM`` of ``/proc/<pid>/status``); nothing here measures time.
"""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from dicomsec.transport._groupcommit import FileRange, GroupCommit, WrittenFile
from dicomsec.transport._part10 import read_file_meta
from dicomsec.transport._pynetdicom import (
    DataSetSpool,
    MemoryBudget,
    SpoolPolicy,
    c_store_rq_command,
    parse_c_store_rsp,
)
from tests.transport.test_dimse import Pki, Scp, _start_scp, running_scp
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture
from tests.transport.test_scp_hardening import (
    _associate_rq,
    _peak_rss_kib,
    _recv_pdu,
    _tls_connection,
)

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
#: the P-DATA PDUs the client sends: well within the 1 MiB the SCP announces
PDU_BYTES = 256 << 10
BIG_PIXELS = 300 << 20
PEAK_LIMIT_KIB = 150 * 1024


# ------------------------------------------------------------------------------------------
# a raw C-STORE sender


def _associate(sock: ssl.SSLSocket) -> None:
    from pynetdicom.pdu import A_ASSOCIATE_AC

    sock.sendall(_associate_rq(abstract=CT_STORAGE, syntaxes=[EXPLICIT_LE], calling="BIGSENDER"))
    pdu_type, body = _recv_pdu(sock)
    assert pdu_type == 0x02, f"association not accepted (PDU type 0x{pdu_type:02X})"
    ac = A_ASSOCIATE_AC()
    ac.decode(b"\x02\x00" + struct.pack(">L", len(body)) + body)
    assert [(c.context_id, c.result) for c in ac.presentation_context] == [(1, 0)]


def _pdata(*pdvs: tuple[int, bytes]) -> bytes:
    """A P-DATA-TF PDU of presentation context 1: (message control header, value) pairs."""
    items = b"".join(struct.pack(">LBB", 2 + len(v), 1, flags) + v for flags, v in pdvs)
    return struct.pack(">BBL", 0x04, 0, len(items)) + items


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _dataset_head(uid: str, pixels: int) -> bytes:
    """The data set up to Pixel Data's value: SOP Class and Instance UIDs, a name, and the
    header of an OB Pixel Data of ``pixels`` bytes (explicit VR little endian)."""
    def ui(text: str) -> bytes:
        raw = text.encode("ascii")
        return raw + b"\0" if len(raw) % 2 else raw

    return (_element(0x0008, 0x0016, b"UI", ui(CT_STORAGE))
            + _element(0x0008, 0x0018, b"UI", ui(uid))
            + _element(0x0010, 0x0010, b"PN", b"MEMORY^TEST ")
            + struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OB", pixels))


def _dataset_chunks(uid: str, pixels: int, size: int) -> Iterator[bytes]:
    """The data set in pieces of ``size`` bytes (the last shorter): generated on the fly,
    each piece numbered so that the content is not periodic."""
    base = os.urandom(size)
    head = _dataset_head(uid, pixels)
    yield head + base[len(head):size]
    left = pixels - (size - len(head))
    n = 0
    while left > 0:
        n += 1
        piece = struct.pack("<Q", n) + base[8:min(size, left)]
        left -= len(piece)
        yield piece


def _send_store(sock: ssl.SSLSocket, uid: str, pixels: int, *, split_command: bool = False,
                stop_after: int | None = None) -> str:
    """Send a C-STORE-RQ of a data set with ``pixels`` bytes of Pixel Data in P-DATA PDUs of
    ``PDU_BYTES``; the data set's SHA-256. ``split_command``: the command set in two
    fragments (pynetdicom decodes it; the data set is then received by our spool too).
    ``stop_after``: stop once this many data set bytes went out (no last fragment)."""
    command = c_store_rq_command(CT_STORAGE, uid, 1)
    if split_command:
        sock.sendall(_pdata((0x01, command[:20])) + _pdata((0x03, command[20:])))
    else:
        sock.sendall(_pdata((0x03, command)))
    digest = hashlib.sha256()
    sent = 0
    total = len(_dataset_head(uid, pixels)) + pixels
    for piece in _dataset_chunks(uid, pixels, PDU_BYTES - 12):
        digest.update(piece)
        sent += len(piece)
        sock.sendall(_pdata((0x02 if sent == total else 0x00, piece)))
        if stop_after is not None and sent >= stop_after:
            break
    return digest.hexdigest()


def _store_status(sock: ssl.SSLSocket) -> int:
    pdu_type, body = _recv_pdu(sock)
    assert pdu_type == 0x04, f"expected P-DATA, got PDU type 0x{pdu_type:02X}"
    (length,) = struct.unpack_from(">L", body)
    assert body[5] == 0x03  # a whole command set
    rsp = parse_c_store_rsp(body[6:4 + length])
    assert rsp is not None
    return int(rsp.Status)


def _release(sock: ssl.SSLSocket) -> None:
    sock.sendall(b"\x05\x00" + struct.pack(">L", 4) + bytes(4))
    assert _recv_pdu(sock)[0] == 0x06


def _file_sha256(path: Path, offset: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _spool_files(pid: int, folder: Path) -> list[int]:
    """Sizes of the unnamed files (``O_TMPFILE``) the process has open in ``folder``."""
    sizes = []
    fds = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fds):
        try:
            target = os.readlink(fds / fd)
            if target.startswith(f"{folder}/#") and target.endswith(" (deleted)"):
                sizes.append(os.stat(fds / fd).st_size)
        except OSError:
            continue  # closed meanwhile
    return sizes


# ------------------------------------------------------------------------------------------
# end to end


def test_300_mb_data_set_is_stored_in_bounded_memory(pki: Pki, tmp_path: Path) -> None:
    uid = generate_uid()
    out = tmp_path / "out"
    with running_scp(pki, out, "b12") as scp:
        with _tls_connection(pki, scp.port) as sock:
            _associate(sock)
            sent = _send_store(sock, uid, BIG_PIXELS)
            assert _store_status(sock) == 0x0000  # sent once the file is durable
            _release(sock)
        peak = _peak_rss_kib(scp)
    assert peak <= PEAK_LIMIT_KIB, f"the server's peak RSS was {peak / 1024:.0f} MiB"
    stored = out / f"{uid}.dcm"
    assert sorted(os.listdir(out)) == [stored.name]
    meta = read_file_meta(stored)
    assert meta is not None
    assert (meta.sop_class, meta.sop_instance, meta.transfer_syntax) == (
        CT_STORAGE, uid, EXPLICIT_LE)
    assert _file_sha256(stored, meta.offset) == sent  # byte-exact
    assert stored.stat().st_size == meta.offset + len(_dataset_head(uid, 0)) + BIG_PIXELS


def test_split_command_set_is_spooled_and_stored(pki: Pki, tmp_path: Path) -> None:
    """A C-STORE-RQ whose command set comes in two fragments (pynetdicom decodes it): its
    data set is received by the spool too, and stored byte-exact."""
    uid = generate_uid()
    out = tmp_path / "out"
    with running_scp(pki, out, "b12") as scp, _tls_connection(pki, scp.port) as sock:
        _associate(sock)
        sent = _send_store(sock, uid, 12 << 20, split_command=True)
        assert _store_status(sock) == 0x0000
        _release(sock)
    stored = out / f"{uid}.dcm"
    meta = read_file_meta(stored)
    assert meta is not None and meta.sop_instance == uid
    assert _file_sha256(stored, meta.offset) == sent


@pytest.mark.parametrize("split_command", [False, True], ids=["plain", "split-command"])
def test_kill_in_the_middle_leaves_nothing(pki: Pki, tmp_path: Path,
                                          split_command: bool) -> None:
    out = tmp_path / "out"
    scp: Scp = _start_scp(pki, out, "b12")
    try:
        with _tls_connection(pki, scp.port) as sock:
            _associate(sock)
            _send_store(sock, generate_uid(), BIG_PIXELS, split_command=split_command,
                        stop_after=48 << 20)
            for _poll in range(600):  # the data set is spooled into an unnamed file in `out`
                sizes = _spool_files(scp.proc.pid, out)
                if sizes and max(sizes) >= 40 << 20:
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"no spool file of 40 MiB in {out} after 600 polls: {sizes}")
            scp.proc.send_signal(signal.SIGKILL)
            assert scp.proc.wait(15) == -signal.SIGKILL
    finally:
        scp.stop()
    assert os.listdir(out) == []


def _c_find_rq() -> bytes:
    """The command set of a C-FIND-RQ with a data set (implicit VR little endian)."""
    uid = CT_STORAGE.encode("ascii") + b"\0"
    body = b"".join(struct.pack("<HHI", 0, tag, len(v)) + v for tag, v in [
        (0x0002, uid), (0x0100, struct.pack("<H", 0x0020)), (0x0110, struct.pack("<H", 7)),
        (0x0700, struct.pack("<H", 0)), (0x0800, struct.pack("<H", 0x0001))])
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def _stream_until_closed(sock: ssl.SSLSocket, first: bytes, flags: int) -> None:
    """Send ``first``, then 256 KiB fragments with ``flags`` (up to 64 MiB) until the
    server closes the connection."""
    piece = _pdata((flags, bytes(PDU_BYTES - 12)))
    try:
        if first:
            sock.sendall(first)
        for _ in range(256):
            sock.sendall(piece)
    except OSError:
        return
    raise AssertionError("the server took 64 MiB of one message")


@pytest.mark.parametrize("kind", ["command-fragments", "c-find-data-set"])
def test_other_messages_are_bounded(pki: Pki, tmp_path: Path, kind: str) -> None:
    """pynetdicom holds a command set, and the data set of a message other than C-STORE,
    in memory until it is complete: past 4 MiB the association is aborted and logged."""
    out = tmp_path / "out"
    with running_scp(pki, out, "b12") as scp:
        start = len(scp.lines)
        with _tls_connection(pki, scp.port) as sock:
            _associate(sock)
            if kind == "command-fragments":
                _stream_until_closed(sock, b"", 0x01)
            else:
                _stream_until_closed(sock, _pdata((0x03, _c_find_rq())), 0x00)
        line = scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+.*", start=start).group(0)
        assert "DIMSE message of over 4194304 bytes" in line, line
        peak = _peak_rss_kib(scp)
    assert peak <= PEAK_LIMIT_KIB, f"the server's peak RSS was {peak / 1024:.0f} MiB"
    assert os.listdir(out) == []


def test_requests_past_any_window_are_refused(pki: Pki, tmp_path: Path) -> None:
    """A requestor that sends C-STOREs without waiting for their responses (no window
    was negotiated) cannot queue them without end: past ``MAX_WAITING`` waiting requests
    (each may hold a spool file open) the association is aborted and logged. The burst of
    200 arrives far faster than 200 stores are made durable."""
    from dicomsec.transport._pynetdicom import MAX_WAITING

    out = tmp_path / "out"
    burst = []
    for n in range(200):
        uid = generate_uid()
        command = c_store_rq_command(CT_STORAGE, uid, n + 1)
        burst.append(_pdata((0x03, command)) + _pdata((0x02, _dataset_head(uid, 0))))
    with running_scp(pki, out, "b12") as scp:
        start = len(scp.lines)
        with _tls_connection(pki, scp.port) as sock:
            _associate(sock)
            try:
                sock.sendall(b"".join(burst))
                while _recv_pdu(sock)[0] == 0x04:  # responses, until the A-ABORT
                    pass
            except OSError:
                pass
        line = scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+.*", start=start).group(0)
        assert f"more than {MAX_WAITING} requests waiting" in line, line
    assert len(os.listdir(out)) < 200


# ------------------------------------------------------------------------------------------
# the spool and the store, in process


def _policy(folder: Path, memory: int = 1024, total: int = 4096,
            head: bytes = b"HEAD") -> SpoolPolicy:
    return SpoolPolicy(folder, lambda _assoc, _cx, _req: head, memory, MemoryBudget(total))


def _spool(policy: SpoolPolicy) -> DataSetSpool:
    return DataSetSpool(policy, lambda: policy.head(None, 1, None))


def test_small_data_sets_stay_in_memory(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    spool = _spool(policy)
    for _ in range(4):
        spool.write(b"x" * 256)
    assert not spool.spilled and spool.fd == -1 and spool.size == 1024
    assert bytes(spool.view()) == b"x" * 1024 and spool.prefix(10) == b"x" * 10
    assert policy.budget.used == 1024
    spool.close()
    assert policy.budget.used == 0
    assert os.listdir(tmp_path) == []


def test_a_large_data_set_spills_into_an_unnamed_file(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    spool = _spool(policy)
    spool.write(b"a" * 1000)
    spool.write(memoryview(b"b" * 1000))
    assert spool.spilled and policy.budget.used == 0 and len(spool.view()) == 0
    assert spool.tmp is None  # no name: O_TMPFILE
    assert os.listdir(tmp_path) == []
    assert spool.prefix(1002) == b"a" * 1000 + b"bb"
    assert os.pread(spool.fd, 3000, 0) == b"HEAD" + b"a" * 1000 + b"b" * 1000
    fd = spool.fd
    spool.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    assert os.listdir(tmp_path) == []


def test_the_budget_is_shared(tmp_path: Path) -> None:
    """Data sets held in memory count together: past the budget, new data go to files."""
    policy = _policy(tmp_path, memory=1024, total=2048)
    first, second, third = _spool(policy), _spool(policy), _spool(policy)
    first.write(b"1" * 1024)
    second.write(b"2" * 1024)
    third.write(b"3" * 10)
    assert (first.spilled, second.spilled, third.spilled) == (False, False, True)
    first.close()
    fourth = _spool(policy)
    fourth.write(b"4" * 10)
    assert not fourth.spilled
    for spool in (second, third):
        spool.close()
    del fourth  # a request dropped unserved gives its memory back too
    assert policy.budget.used == 0


def test_a_spool_that_cannot_write_reports_the_error(tmp_path: Path) -> None:
    policy = _policy(tmp_path / "gone")  # the folder does not exist
    spool = _spool(policy)
    spool.write(b"z" * 2000)
    spool.write(b"z" * 10)
    assert isinstance(spool.error, OSError) and spool.size == 2010
    assert policy.budget.used == 0
    spool.close()


def test_a_spool_file_is_linked_into_place_as_it_is(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    spool = _spool(policy)
    spool.write(b"d" * 5000)
    committer = GroupCommit()
    first, second = tmp_path / "a.dcm", tmp_path / "b.dcm"
    first.write_bytes(b"existing")
    with pytest.raises(FileExistsError):  # the file stays the spool's, unnamed
        committer.store(first, WrittenFile(spool.fd, spool.tmp), replace=False)
    committer.store(second, WrittenFile(spool.fd, spool.tmp), replace=False)
    spool.close()
    assert first.read_bytes() == b"existing"
    assert second.read_bytes() == b"HEAD" + b"d" * 5000
    assert sorted(os.listdir(tmp_path)) == ["a.dcm", "b.dcm"]


def test_a_spool_file_with_another_head_is_copied(tmp_path: Path) -> None:
    policy = _policy(tmp_path, head=b"OLD")
    spool = _spool(policy)
    spool.write(b"e" * 3000)
    target = tmp_path / "c.dcm"
    GroupCommit().store(target, (b"NEWHEAD", FileRange(spool.fd, 3, spool.size)))
    spool.close()
    assert target.read_bytes() == b"NEWHEAD" + b"e" * 3000
    assert os.listdir(tmp_path) == ["c.dcm"]

