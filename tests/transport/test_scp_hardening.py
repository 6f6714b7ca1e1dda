"""Issue 8, item 5: the SCP cannot be exhausted or overwritten.

Our SCP runs as a ``dicomsec scp`` subprocess on 127.0.0.1; the hostile clients are raw TLS
sockets and pynetdicom. Memory is read from ``/proc/<pid>/status`` of the server (its peak
resident set, ``VmHWM``); nothing here measures time.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import UID, generate_uid

from dicomsec.transport import dimse, tls
from dicomsec.trust import TrustStore
from tests.transport.test_dimse import (
    CT,
    Pki,
    Scp,
    _cli,
    _dataset_bytes,
    running_scp,
)
from tests.transport.test_dimse import (
    pki as pki,  # the module's test PKI fixture
)

VERIFICATION = "1.2.840.10008.1.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _client_ctx(pki: Pki) -> ssl.SSLContext:
    return tls.client_context("b12", TrustStore.from_paths([pki.ca]), cert=pki.cert("client"),
                              key=pki.key("client"))


def _peak_rss_kib(scp: Scp) -> int:
    status = Path(f"/proc/{scp.proc.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _associate_rq(max_pdu: int = 16384, *, abstract: str = VERIFICATION,
                  syntaxes: list[str] | None = None, calling: str = "HOSTILE") -> bytes:
    """An A-ASSOCIATE-RQ PDU proposing ``abstract`` (Verification) in ``syntaxes``
    (pynetdicom's default transfer syntaxes) as context 1, encoded by pynetdicom."""
    from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import build_context

    prim = A_ASSOCIATE()
    prim.application_context_name = "1.2.840.10008.3.1.1.1"
    prim.calling_ae_title = calling
    prim.called_ae_title = "DICOMSEC"
    length = MaximumLengthNotification()
    length.maximum_length_received = max_pdu
    impl = ImplementationClassUIDNotification()
    impl.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    prim.user_information = [length, impl]
    cx = build_context(abstract, syntaxes)
    cx.context_id = 1
    prim.presentation_context_definition_list = [cx]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(prim)
    return bytes(pdu.encode())


def _recv_pdu(sock: ssl.SSLSocket) -> tuple[int, bytes]:
    head = b""
    while len(head) < 6:
        chunk = sock.recv(6 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    pdu_type, _, length = struct.unpack(">BBL", head)
    body = b""
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return pdu_type, body


def _stream(sock: ssl.SSLSocket, total: int) -> int:
    """Send up to ``total`` bytes of zeros; how many went out before the server closed."""
    block = bytes(1 << 20)
    sent = 0
    with contextlib.suppress(OSError):
        while sent < total:
            sock.sendall(block)
            sent += len(block)
    return sent


@contextlib.contextmanager
def _tls_connection(pki: Pki, port: int) -> Any:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    with _client_ctx(pki).wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        yield sock


def _send_ok(pki: Pki, port: int, files: list[Path]) -> None:
    proc = _cli("send", "--host", "127.0.0.1", "--port", str(port), "--profile", "b12",
                "--aec", "DICOMSEC", *pki.client_args(), *map(str, files))
    assert proc.returncode == 0, proc.stderr


def _ct_file(folder: Path, name: str, uid: str, *, patient: str = "ORIGINAL",
             sop_class: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(CT)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    ds.PatientName = patient
    if sop_class is not None:
        ds.SOPClassUID = sop_class
        ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------------------------------
# 1. PDU bounds before the body is read


def test_huge_p_data_pdu_is_refused_in_bounded_memory(pki: Pki, tmp_path: Path) -> None:
    valid = _ct_file(tmp_path / "in", "valid.dcm", generate_uid())
    with running_scp(pki, tmp_path / "out", "b12") as scp:
        before = _peak_rss_kib(scp)
        start = len(scp.lines)
        with _tls_connection(pki, scp.port) as sock:
            sock.sendall(_associate_rq())
            pdu_type, _ = _recv_pdu(sock)
            assert pdu_type == 0x02  # A-ASSOCIATE-AC
            sock.sendall(b"\x04\x00" + struct.pack(">L", 0x7FFFFFFF) + bytes(4096))
            # a valid client is served while the hostile connection is open
            _send_ok(pki, scp.port, [valid])
            _stream(sock, 96 << 20)
        line = scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+: (.*)", start=start).group(1)
        assert "P-DATA PDU of 2147483647 bytes exceeds the maximum PDU length" in line
        growth_mib = (_peak_rss_kib(scp) - before) / 1024
        assert growth_mib < 40, f"the server grew by {growth_mib:.0f} MiB"
    assert (tmp_path / "out" / f"{pydicom.dcmread(valid).SOPInstanceUID}.dcm").is_file()


def test_huge_pdu_before_association_is_refused(pki: Pki, tmp_path: Path) -> None:
    with running_scp(pki, tmp_path / "out", "b12") as scp:
        before = _peak_rss_kib(scp)
        start = len(scp.lines)
        with _tls_connection(pki, scp.port) as sock:
            sock.sendall(b"\x01\x00" + struct.pack(">L", 0x7FFFFFFF))
            _stream(sock, 64 << 20)
        line = scp.wait_for(r"^ABORT 127\.0\.0\.1:\d+: (.*)", start=start).group(1)
        assert "before the association exceeds 65536" in line
        growth_mib = (_peak_rss_kib(scp) - before) / 1024
        assert growth_mib < 40, f"the server grew by {growth_mib:.0f} MiB"


# ------------------------------------------------------------------------------------------
# 2. the stall drop is logged


@contextlib.contextmanager
def _client_of_scp(pki: Pki, tmp_path: Path,
                   events: list[dimse.ScpEvent]
                   ) -> Iterator[tuple[dimse.DimseServer, ssl.SSLSocket]]:
    """An in-process SCP whose network timeout is 1 s (the command's default is 60 s), its
    events going to ``events``, and a raw TLS connection to it."""
    out = tmp_path / "out"
    out.mkdir()
    with dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))],
                        TrustStore.from_paths([pki.ca]), out, host="127.0.0.1", port=0,
                        on_event=events.append, require_profile_config=False,
                        network_timeout=1.0) as server, \
            _tls_connection(pki, server.port) as sock:
        yield server, sock


def test_stall_in_the_middle_of_a_pdu_is_logged(pki: Pki, tmp_path: Path) -> None:
    """In process, with a short network timeout."""
    events: list[dimse.ScpEvent] = []
    with _client_of_scp(pki, tmp_path, events) as (_server, sock):
        sock.sendall(_associate_rq())
        assert _recv_pdu(sock)[0] == 0x02
        sock.sendall(b"\x04\x00" + struct.pack(">L", 1000) + bytes(10))  # then nothing
        with contextlib.suppress(OSError):
            while sock.recv(4096):  # until the server drops the connection
                pass
    aborted = [e for e in events if e.kind == "aborted"]
    assert len(aborted) == 1, events
    assert "network timeout" in aborted[0].detail and aborted[0].calling_aet == "HOSTILE"


def test_silent_peer_before_the_association_is_logged(pki: Pki, tmp_path: Path) -> None:
    """A TLS client that never sends its A-ASSOCIATE-RQ is dropped after the ACSE timeout
    (at most the network timeout) and the drop is an event; a server shutdown is not."""
    events: list[dimse.ScpEvent] = []
    with _client_of_scp(pki, tmp_path, events) as (server, sock):
        with contextlib.suppress(OSError):
            while sock.recv(4096):  # until the server drops the connection
                pass
        with _tls_connection(pki, server.port):  # still open when the server stops
            pass
    aborted = [e for e in events if e.kind == "aborted"]
    assert len(aborted) == 1, events
    assert "no A-ASSOCIATE-RQ within the ACSE timeout" in aborted[0].detail


# ------------------------------------------------------------------------------------------
# 3. the data set must be the one the C-STORE command names


def _store_raw(pki: Pki, port: int, path: Path, sop_class: str, sop_instance: str) -> int:
    """C-STORE a file's data set under the given command UIDs; the status."""
    from pynetdicom import AE

    from dicomsec.transport._part10 import read_file_meta
    from dicomsec.transport._pynetdicom import (
        context_id_for,
        reactor_paused,
        receive_c_store_response,
        send_c_store_file,
    )

    meta = read_file_meta(path)
    assert meta is not None
    ae = AE(ae_title="HOSTILE")
    ae.add_requested_context(sop_class, [EXPLICIT_LE])
    assoc = ae.associate("127.0.0.1", port, ae_title="DICOMSEC",
                         tls_args=(_client_ctx(pki), "127.0.0.1"))
    assert assoc.is_established
    try:
        with reactor_paused(assoc):
            cx = context_id_for(assoc, sop_class, EXPLICIT_LE)
            send_c_store_file(assoc, path, meta.offset, sop_class, sop_instance, cx, 1)
            _msg_id, status = receive_c_store_response(assoc)
    finally:
        assoc.release()
    return int(status.Status)


def test_mismatched_uid_store_fails_and_changes_nothing(pki: Pki, tmp_path: Path) -> None:
    existing_uid, other_uid = generate_uid(), generate_uid()
    existing = _ct_file(tmp_path / "in", "a.dcm", existing_uid)
    intruder = _ct_file(tmp_path / "in", "b.dcm", other_uid, patient="INTRUDER")
    out = tmp_path / "out"
    with running_scp(pki, out, "b12") as scp:
        _send_ok(pki, scp.port, [existing])
        stored = out / f"{existing_uid}.dcm"
        kept = stored.read_bytes()
        start = len(scp.lines)
        # the command names the existing instance, the data set is another one
        status = _store_raw(pki, scp.port, intruder, CT_STORAGE, existing_uid)
        assert status == 0xA900
        line = scp.wait_for(r"^STORE-FAILED .*", start=start).group(0)
        assert "differs from the command's Affected SOP Instance UID" in line
        # the SOP class too
        start = len(scp.lines)
        status = _store_raw(pki, scp.port, intruder, MR_STORAGE, other_uid)
        assert status == 0xA900
        assert "Affected SOP Class UID" in scp.wait_for(r"^STORE-FAILED .*", start=start)[0]
        assert stored.read_bytes() == kept
        assert not (out / f"{other_uid}.dcm").exists()
        assert sorted(p.name for p in out.iterdir()) == [stored.name]


def test_mismatched_uid_is_refused_with_replace_too(pki: Pki, tmp_path: Path) -> None:
    existing_uid, other_uid = generate_uid(), generate_uid()
    existing = _ct_file(tmp_path / "in", "a.dcm", existing_uid)
    intruder = _ct_file(tmp_path / "in", "b.dcm", other_uid, patient="INTRUDER")
    out = tmp_path / "out"
    with running_scp(pki, out, "b12", "--duplicates", "replace") as scp:
        _send_ok(pki, scp.port, [existing])
        kept = (out / f"{existing_uid}.dcm").read_bytes()
        assert _store_raw(pki, scp.port, intruder, CT_STORAGE, existing_uid) == 0xA900
        assert (out / f"{existing_uid}.dcm").read_bytes() == kept


# ------------------------------------------------------------------------------------------
# 4. duplicates


@pytest.mark.parametrize("policy", ["reject", "keep-both", "replace"])
def test_duplicate_policy(pki: Pki, tmp_path: Path, policy: str) -> None:
    uid = generate_uid()
    first = _ct_file(tmp_path / "in1", "a.dcm", uid, patient="FIRST")
    second = _ct_file(tmp_path / "in2", "a.dcm", uid, patient="SECOND")
    out = tmp_path / "out"
    extra = () if policy == "reject" else ("--duplicates", policy)
    with running_scp(pki, out, "b12", *extra) as scp:
        _send_ok(pki, scp.port, [first])
        start = len(scp.lines)
        proc = _cli("send", "--host", "127.0.0.1", "--port", str(scp.port), "--profile",
                    "b12", "--aec", "DICOMSEC", *pki.client_args(), str(second))
        names = sorted(p.name for p in out.iterdir())
        if policy == "reject":
            assert proc.returncode == 1, proc.stderr
            assert "0x0111" in proc.stderr
            line = scp.wait_for(r"^STORE-FAILED .*", start=start).group(0)
            assert "instance exists already (duplicates: reject)" in line
            assert names == [f"{uid}.dcm"]
            assert _dataset_bytes(out / f"{uid}.dcm") == _dataset_bytes(first)
        elif policy == "keep-both":
            assert proc.returncode == 0, proc.stderr
            assert names == [f"{uid}.dcm", f"{uid}_1.dcm"]
            assert _dataset_bytes(out / f"{uid}.dcm") == _dataset_bytes(first)
            assert _dataset_bytes(out / f"{uid}_1.dcm") == _dataset_bytes(second)
        else:
            assert proc.returncode == 0, proc.stderr
            assert names == [f"{uid}.dcm"]
            assert _dataset_bytes(out / f"{uid}.dcm") == _dataset_bytes(second)


def test_duplicates_option_is_checked(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    proc = _cli("scp", "--port", "0", "--bind", "127.0.0.1", "--out", str(tmp_path / "out"),
                "--trust", str(pki.ca), "--cert", str(pki.cert("server-ec")), "--key",
                str(pki.key("server-ec")), "--duplicates", "overwrite")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "--duplicates" in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr


def test_make_scp_refuses_an_unknown_duplicate_policy(pki: Pki, tmp_path: Path) -> None:
    from dicomsec.errors import InvalidInput

    with pytest.raises(InvalidInput, match="duplicate policy"):
        dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))],
                       TrustStore.from_paths([pki.ca]), tmp_path, host="127.0.0.1", port=0,
                       require_profile_config=False, duplicates="overwrite")
