"""The trail against a REAL rsyslog (issue 11, acceptance 2 and 3), started by the test from
the fixture configuration (``tests/audit/receiver.py``: TLS with client certificates that must
chain to the syslog test CA, and UDP, on free 127.0.0.1 ports).

- TLS and UDP arrive; the XML rsyslog stores equals what was sent byte for byte (its ``msg``
  is the MSG part as received: the BOM, then the XML), "Müller^Jürgen" included; PRI, MSGID,
  APP-NAME and PROCID as sent; the stored XML validates against the schema.
- A 30 KB message arrives whole over TLS.
- A client without a certificate, with a certificate of another CA (one the pki-anon CA
  issued for clientAuth) or with a certificate not made for TLS clients is refused; its
  records stay in the spool and the receiver stores nothing.
- Receiver stopped: 100 commands (open_trail, handle, close) each return within the bound
  (+ 1 s: a hang check); after a restart one flush delivers all 100, each exactly once.
- ``kill -9`` of a process between the receiver's taking a batch and the spool's removal of
  it loses nothing: after a restart and a flush every message is there, the killed batch
  twice at most (the duplicate the trail documents), nothing else twice.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomsec.audit.messages import AuditSource, dicom_messages
from dicomsec.audit.schema import validate
from dicomsec.audit.syslog import BOM
from dicomsec.audit.trail import open_trail
from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation
from tests.audit.receiver import PKI_SYSLOG, Receiver, running_receiver
from tests.conftest import DATA, require_tool

PKI = PKI_SYSLOG.resolve()
SOURCE = AuditSource.local()
CLIENT = f"cert={PKI}/client.cert.pem&key={PKI}/client.key.pem"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with running_receiver(tmp_path / "run") as rsyslog:
        yield rsyslog


def tls_url(receiver: Receiver, client: str = CLIENT, extra: str = "") -> str:
    return f"syslog+tls://127.0.0.1:{receiver.tls_port}?ca={PKI}/ca.cert.pem&{client}{extra}"


def event(tag: str, instances: int = 1) -> AuditEvent:
    """A SIGN event whose Patient ID is ``tag`` (the unique id the tests count by)."""
    uids = tuple(f"1.2.826.0.1.3680043.8.498.{i:06d}.{'7' * 24}" for i in range(instances))
    return AuditEvent(Operation.SIGN, objects=(
        AuditObject(ObjectKind.STUDY, "1.2.826.0.1.3680043.8.498.1",
                    sop_classes=(("1.2.840.10008.5.1.4.1.1.2", uids),)),
        AuditObject(ObjectKind.PATIENT, tag, name="Müller^Jürgen"),
        AuditObject(ObjectKind.FILE, f"file:///data/{tag}.dcm", name=f"{tag}.dcm")))


def tags(records: list[dict[str, object]]) -> collections.Counter[str]:
    found = (re.search(r'ParticipantObjectID="(RUN-\d+)"', str(r["msg"])) for r in records)
    return collections.Counter(m.group(1) for m in found if m)


def test_tls_and_udp_arrive_byte_for_byte(receiver: Receiver, tmp_path: Path) -> None:
    udp = f"syslog+udp://127.0.0.1:{receiver.udp_port}?max=8192"
    trail = open_trail([tls_url(receiver), udp], tmp_path / "spool", source=SOURCE)
    sent = event("P-1")
    trail.handle(sent)
    report = trail.flush()
    trail.close()
    assert report.ok and report.delivered == 2, report.to_dict()
    (xml,) = [m.xml for m in dicom_messages(sent, SOURCE)]
    assert "Müller^Jürgen".encode() in xml
    records = receiver.wait_for(2)
    assert sorted(r["input"] for r in records) == ["tls6514", "udp5514"]
    for record in records:
        assert str(record["msg"]).encode("utf-8") == BOM + xml
        assert validate(str(record["msg"]).encode("utf-8")[len(BOM):]) == []
        assert (record["pri"], record["version"], record["msgid"]) == ("85", "1", "DICOM+RFC3881")
        assert (record["app"], record["procid"], record["host"]) == (
            "dicomsec", SOURCE.process_id, SOURCE.hostname)


def test_30k_message_arrives_whole(receiver: Receiver, tmp_path: Path) -> None:
    sent = event("P-30K", instances=380)
    (xml,) = [m.xml for m in dicom_messages(sent, SOURCE)]
    assert 30_000 < len(xml) < 32_000
    trail = open_trail([tls_url(receiver)], tmp_path / "spool", source=SOURCE)
    trail.handle(sent)
    assert trail.flush().ok and trail.errors == []
    trail.close()
    (record,) = receiver.wait_for(1)
    assert str(record["msg"]).encode("utf-8") == BOM + xml


def _foreign_client(tmp_path: Path) -> str:
    """A TLS client certificate (clientAuth) issued by the de-identification test CA, which
    the receiver does not trust."""
    openssl = require_tool("openssl")
    anon = DATA / "pki-anon"
    csr, cert = tmp_path / "foreign.csr", tmp_path / "foreign.cert.pem"
    subprocess.run([openssl, "req", "-new", "-key", str(anon / "other.key.pem"), "-subj",
                    "/CN=audit-client.test", "-out", str(csr)], check=True, capture_output=True)
    subprocess.run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(anon / "ca.cert.pem"),
                    "-CAkey", str(anon / "ca.key.pem"), "-set_serial", "77", "-days", "30",
                    "-sha256", "-extfile", str(PKI / "openssl.cnf"), "-extensions", "v3_client",
                    "-out", str(cert)], check=True, capture_output=True)
    return f"cert={cert}&key={anon / 'other.key.pem'}"


@pytest.mark.parametrize("client", ["none", "foreign-ca", "not-a-tls-client"])
def test_refused_client_keeps_its_records(receiver: Receiver, tmp_path: Path,
                                          client: str) -> None:
    anon = DATA / "pki-anon"
    query = {"none": "", "foreign-ca": _foreign_client(tmp_path),
             "not-a-tls-client": f"cert={anon}/recipient.cert.pem&key={anon}/recipient.key.pem"}
    trail = open_trail([tls_url(receiver, query[client])], tmp_path / "spool", source=SOURCE)
    for n in range(3):
        trail.handle(event(f"RUN-{n}"))
    report = trail.flush(time.monotonic() + 10)
    trail.close()
    assert not report.ok and report.delivered == 0 and report.remaining == 3
    assert report.sinks[0].error
    time.sleep(0.3)
    assert receiver.records() == []
    assert trail.spool is not None
    status = open_trail([tls_url(receiver)], tmp_path / "spool", source=SOURCE)
    assert status.spool is not None and status.spool.status().depth == 3
    error = str(report.sinks[0].error)
    if client == "none":  # TLS 1.3: the write succeeded; the receiver's close tells
        assert "closed the connection after the handshake" in error
        assert "did not provide a certificate" in receiver.diagnostics()
    elif client == "foreign-ca":
        assert "closed the connection after the handshake" in error
        assert "signer not found" in receiver.diagnostics()
    else:  # refused before connecting: the certificate is not for a TLS client
        assert "lacks clientAuth" in error
    # the records are not lost: with the right certificate they go out
    assert status.flush().ok
    status.close()
    assert tags(receiver.wait_for(3)) == {f"RUN-{n}": 1 for n in range(3)}


def test_receiver_down_bounded_then_exactly_once(receiver: Receiver, tmp_path: Path) -> None:
    spool, bound = tmp_path / "spool", 1.0
    receiver.stop()
    for n in range(100):
        started = time.monotonic()
        trail = open_trail([tls_url(receiver)], spool, bound=bound, source=SOURCE)
        trail.handle(event(f"RUN-{n}"))
        trail.close()
        assert trail.errors == []
        assert time.monotonic() - started < bound + 1.0, f"close {n} hung"
    receiver.start()
    trail = open_trail([tls_url(receiver)], spool, source=SOURCE)
    report = trail.flush()
    trail.close()
    assert report.ok and report.delivered == 100, report.to_dict()
    assert tags(receiver.wait_for(100)) == {f"RUN-{n}": 1 for n in range(100)}


_CHILD = """
import os, sys, time
from pathlib import Path
from dicomsec.audit.trail import open_trail
from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation
url, spool = sys.argv[1], Path(sys.argv[2])
trail = open_trail([url], spool)
for n in range(50):
    trail.handle(AuditEvent(Operation.SIGN, objects=(
        AuditObject(ObjectKind.PATIENT, f"RUN-{n}", name="M\u00fcller^J\u00fcrgen"),)))
assert not trail.errors, trail.errors
sink = trail.sinks[0]
real = sink.deliver
def deliver(payloads, deadline):
    taken = real(payloads, deadline)
    print(f"delivered {taken}", flush=True)
    time.sleep(60)          # SIGKILLed here: taken by the receiver, still in the spool
    return taken
sink.deliver = deliver
trail.flush()
"""


def test_kill_9_while_flushing_loses_nothing(receiver: Receiver, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, tls_url(receiver), str(spool)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "DICOMSEC_AUDIT": ""})
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "delivered 50", child.stderr.read() if child.stderr else ""
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    receiver.stop()
    receiver.start()
    trail = open_trail([tls_url(receiver)], spool, source=SOURCE)
    report = trail.flush()
    trail.close()
    assert report.ok and report.delivered == 50, report.to_dict()
    counts = tags(receiver.wait_for(100))
    # every message at least once; the batch in flight at the kill exactly twice (documented)
    assert counts == {f"RUN-{n}": 2 for n in range(50)}
    lines = [json.loads(x) for x in receiver.store.read_text().splitlines()]
    assert all(str(x["msg"]).startswith("\ufeff<?xml") for x in lines)


def test_encrypted_client_key_with_password_file(receiver: Receiver, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    password = tmp_path / "password.txt"
    password.write_text("audit key pass phrase\n")
    key = tmp_path / "client.key.enc.pem"
    subprocess.run([openssl, "pkey", "-in", str(PKI / "client.key.pem"), "-aes256", "-passout",
                    f"file:{password}", "-out", str(key)], check=True, capture_output=True)
    client = f"cert={PKI}/client.cert.pem&key={key}&password-file={password}"
    trail = open_trail([tls_url(receiver, client)], tmp_path / "spool", source=SOURCE)
    trail.handle(event("RUN-7"))
    assert trail.flush().ok
    spool_files = sorted((tmp_path / "spool").glob("spool.sqlite3*"))
    assert {p.name for p in spool_files} >= {"spool.sqlite3", "spool.sqlite3-wal"}
    for part in spool_files:  # while the -wal and -shm files exist
        assert b"pass phrase" not in part.read_bytes(), part
    trail.close()
    assert tags(receiver.wait_for(1)) == {"RUN-7": 1}
    # the pass phrase is in no record and not in the spool
    for part in sorted((tmp_path / "spool").glob("spool.sqlite3*")):  # -wal, -shm too
        assert b"pass phrase" not in part.read_bytes(), part
    assert "pass phrase" not in receiver.store.read_text()
