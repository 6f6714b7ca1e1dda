"""Issue 11: audit events of DIMSE over TLS (``dicomsec.transport.dimse``).

In process: our SCP (``make_scp``) and real TLS clients (Python ``ssl``, pynetdicom, our
``send_files``) on 127.0.0.1, the events kept by :class:`dicomsec.events.Collector`. A client
without a valid certificate gives ASSOCIATION_REFUSED with the handshake's reason; a good one
ASSOCIATION_ACCEPTED and INSTANCES_RECEIVED per study; ``send`` BEGIN_TRANSFER and
INSTANCES_SENT. Every event's DICOM message validates against the schema. One subprocess test
runs ``dicomsec --audit file://... scp`` and reads its records while it still serves.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomsec.audit import AuditSource, dicom_messages, validate
from dicomsec.events import AuditEvent, Collector, ObjectKind, Operation, Outcome
from dicomsec.transport import dimse, tls
from dicomsec.transport._audit import ScpAudit, Transfers
from dicomsec.trust import TrustStore
from tests.transport.test_dimse import CT, Pki, _start_scp
from tests.transport.test_dimse import pki as pki  # the module's test PKI fixture

PASSCODE = "s3cret-passcode-11"
SOURCE = AuditSource.local(ae_titles=("DICOMSEC",))


def _store(pki: Pki) -> TrustStore:
    return TrustStore.from_paths([pki.ca])


@contextlib.contextmanager
def _scp(pki: Pki, tmp_path: Path, *handlers: Callable[[AuditEvent], object]
         ) -> Iterator[dimse.DimseServer]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with dimse.make_scp("b12", [(pki.cert("server-ec"), pki.key("server-ec"))], _store(pki),
                        out, host="127.0.0.1", port=0, require_profile_config=False,
                        handlers=handlers) as server:
        yield server


def _wait(events: Collector, operation: Operation, count: int = 1) -> list[AuditEvent]:
    """The events of ``operation`` once there are ``count`` (the SCP reports from its
    threads); fails after a generous bound."""
    deadline = time.monotonic() + 20
    while True:
        found = [e for e in events.events if e.operation is operation]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, [e.operation for e in events.events]
            return found
        time.sleep(0.02)


def _valid(events: list[AuditEvent]) -> None:
    for event in events:
        for message in dicom_messages(event, SOURCE):
            assert validate(message.xml) == [], (event, message.xml)


def _files(folder: Path, count: int, *, name: str = "Müller^Jürgen",
           patient_id: str = "PID-11") -> list[Path]:
    """CT_small copies with new SOP Instance UIDs, one study, a non-ASCII patient name."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(CT)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = generate_uid()
    paths = []
    for n in range(count):
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        path = folder / f"f{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _client(pki: Pki, name: str | None) -> ssl.SSLContext:
    """A plain TLS client context (no profile checks of our own): ``name``'s certificate, or
    none."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    if name is not None:
        ctx.load_cert_chain(pki.cert(name), pki.key(name))
    return ctx


@pytest.mark.parametrize(("client", "reason", "subject"), [
    (None, "peer did not return a certificate", None),           # no certificate
    ("client-untrusted", "unable to get local issuer", None),    # another CA (OpenSSL)
    ("client-sha224", "SHA-224", "CN=client-sha224"),            # below the profile: after
])                                                               # the handshake, named
def test_refused_tls_client_gives_association_refused(pki: Pki, tmp_path: Path,
                                                      client: str | None, reason: str,
                                                      subject: str | None) -> None:
    events = Collector()
    with _scp(pki, tmp_path, events) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with contextlib.suppress(OSError), \
                _client(pki, client).wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.recv(1)  # TLS 1.3: the refusal arrives after the client's handshake
        refused = _wait(events, Operation.ASSOCIATION_REFUSED)[0]
    assert refused.outcome is Outcome.MINOR_FAILURE
    assert reason in refused.description
    node = refused.objects[0]
    assert node.kind is ObjectKind.NODE and node.id == "127.0.0.1"
    assert ("Alert Description", refused.description) in node.details
    who = refused.participants[0]
    assert who.is_requestor and who.network_access_point == "127.0.0.1"
    assert who.user_name == subject
    assert not [e for e in events.events if e.operation is Operation.ASSOCIATION_ACCEPTED]
    _valid(events.events)


def test_send_to_scp_gives_accepted_received_and_sent(pki: Pki, tmp_path: Path) -> None:
    scp_events, scu_events = Collector(), Collector()
    files = _files(tmp_path / "in", 3)
    study = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files]
    with _scp(pki, tmp_path, scp_events) as server:
        ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"),
                                 key=pki.key("client"))
        report = dimse.send_files(files, "127.0.0.1", server.port, ctx, called_aet="DICOMSEC",
                                  calling_aet="AUDIT_SCU", handlers=[scu_events])
        assert report.ok
        _wait(scp_events, Operation.INSTANCES_RECEIVED)
    accepted = _wait(scp_events, Operation.ASSOCIATION_ACCEPTED)[0]
    who = accepted.participants[0]
    assert who.user_id == "AUDIT_SCU" and who.alternative_user_id == "AETITLES=AUDIT_SCU"
    assert who.user_name is not None and "client" in who.user_name
    assert who.is_requestor and who.network_access_point == "127.0.0.1"
    assert accepted.objects[0].kind is ObjectKind.NODE
    received = _wait(scp_events, Operation.INSTANCES_RECEIVED)
    assert len(received) == 1 and received[0].outcome is Outcome.SUCCESS
    study_obj, patient = received[0].objects
    assert study_obj.kind is ObjectKind.STUDY and study_obj.id == study
    assert [set(i) for _c, i in study_obj.sop_classes] == [set(uids)]
    assert patient.kind is ObjectKind.PATIENT and patient.id == "PID-11"
    assert patient.name == "Müller^Jürgen"
    assert received[0].participants[0].roles == ("110153",)
    begin = [e for e in scu_events.events if e.operation is Operation.BEGIN_TRANSFER]
    sent = [e for e in scu_events.events if e.operation is Operation.INSTANCES_SENT]
    assert len(begin) == 1 and begin[0].objects[0].id == study
    assert len(sent) == 1 and sent[0].outcome is Outcome.SUCCESS
    assert sent[0].objects[1].name == "Müller^Jürgen"
    dest = sent[0].participants[0]
    assert dest.roles == ("110152",) and not dest.is_requestor and dest.user_id == "DICOMSEC"
    starts = [e.operation for e in scp_events.events
              if e.operation in (Operation.APPLICATION_START, Operation.APPLICATION_STOP)]
    assert starts == [Operation.APPLICATION_START, Operation.APPLICATION_STOP]
    _valid(scp_events.events + scu_events.events)


def test_send_refused_by_the_scp_gives_refused_and_failed_sent(pki: Pki,
                                                               tmp_path: Path) -> None:
    scu_events = Collector()
    files = _files(tmp_path / "in", 1)
    with _scp(pki, tmp_path) as server:
        bad = tls.client_context("b12", _store(pki), cert=pki.cert("client-untrusted"),
                                 key=pki.key("client-untrusted"))
        report = dimse.send_files(files, "127.0.0.1", server.port, bad, called_aet="DICOMSEC",
                                  handlers=[scu_events])
    assert not report.ok
    refused = [e for e in scu_events.events if e.operation is Operation.ASSOCIATION_REFUSED]
    assert len(refused) == 1 and not refused[0].participants[0].is_requestor
    assert "TLS" in refused[0].description
    sent = [e for e in scu_events.events if e.operation is Operation.INSTANCES_SENT]
    assert len(sent) == 1 and sent[0].outcome is Outcome.MINOR_FAILURE
    assert sent[0].objects[0].details[0][0] == "Alert Description"
    assert not [e for e in scu_events.events if e.operation is Operation.BEGIN_TRANSFER]
    _valid(scu_events.events)


def test_user_identity_is_named_never_its_passcode(pki: Pki, tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.pdu_primitives import UserIdentityNegotiation
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    events = Collector()
    with _scp(pki, tmp_path, events) as server:
        identity = UserIdentityNegotiation()
        identity.user_identity_type = 2
        identity.primary_field = b"alice"
        identity.secondary_field = PASSCODE.encode()
        ae = AE(ae_title="ID_SCU")
        ae.add_requested_context(Verification)
        ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"),
                                 key=pki.key("client"))
        assoc = ae.associate("127.0.0.1", server.port, ae_title="DICOMSEC",
                             tls_args=(ctx, "127.0.0.1"), ext_neg=[identity])
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0
        assoc.release()
        login = _wait(events, Operation.USER_AUTHENTICATION)[0]
    assert login.participants[0].user_id == "alice"
    assert login.outcome is Outcome.MINOR_FAILURE and "not verified" in login.description
    assert PASSCODE not in repr(events.events)
    _valid(events.events)
    assert not [e for e in events.events if e.operation is Operation.INSTANCES_RECEIVED]


def test_a_raising_handler_never_breaks_an_association(pki: Pki, tmp_path: Path) -> None:
    def broken(event: AuditEvent) -> None:
        raise RuntimeError("audit sink down")

    events = Collector()
    files = _files(tmp_path / "in", 2)
    with _scp(pki, tmp_path, broken, events) as server:
        ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"),
                                 key=pki.key("client"))
        report = dimse.send_files(files, "127.0.0.1", server.port, ctx, called_aet="DICOMSEC",
                                  handlers=[broken])
        assert report.ok and report.stored == 2
        _wait(events, Operation.INSTANCES_RECEIVED)
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 2


def _records(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text("utf-8").splitlines() if line.strip()]


def test_scp_command_delivers_its_records_while_serving(pki: Pki, tmp_path: Path) -> None:
    """``dicomsec --audit file://LOG scp``: a refused client's record reaches the file sink
    while the SCP still runs (the trail delivers in the background)."""
    log = tmp_path / "audit.log"
    scp = _start_scp(pki, tmp_path / "out", "b12", "--audit", log.as_uri(), "--audit-spool",
                     str(tmp_path / "spool"))
    try:
        raw = socket.create_connection(("127.0.0.1", scp.port), timeout=10)
        with contextlib.suppress(OSError), \
                _client(pki, None).wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.recv(1)
        scp.wait_for(r"^TLS-REJECT ")
        deadline = time.monotonic() + 20
        while not any("110126" in str(r) for r in _records(log)):
            assert time.monotonic() < deadline, "no Node Authentication record while serving"
            assert scp.proc.poll() is None
            time.sleep(0.1)
    finally:
        assert scp.stop() == 0, "\n".join(scp.lines)
    text = log.read_text("utf-8")
    assert "110120" in text and "110121" in text  # application start and stop


# ------------------------------------------------------------------------------------------
# the SCP's audit queue: associations never wait on auditing (review RD)


def test_a_blocked_handler_never_delays_an_association(pki: Pki, tmp_path: Path) -> None:
    """A handler stuck (a spool locked by another process, a dead sink) while three echoes
    run: each is answered (before the handler is released), the events come afterwards."""
    release = threading.Event()
    events = Collector()

    def stuck(event: AuditEvent) -> None:
        release.wait(30)

    ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"), key=pki.key("client"))
    with _scp(pki, tmp_path, stuck, events) as server:
        try:
            answers = [dimse.echo("127.0.0.1", server.port, ctx, called_aet="DICOMSEC",
                                  timeout=10).ok for _ in range(3)]
            assert not release.is_set() and answers == [True] * 3
        finally:
            release.set()
        _wait(events, Operation.ASSOCIATION_ACCEPTED, 3)
    assert events.events[-1].operation is Operation.APPLICATION_STOP


def test_a_held_spool_lock_is_retried_not_lost(pki: Pki, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Another connection holds the spool's write lock (a sqlite3 shell, a stopped
    process): echoes are answered, the writer's "not spooled" failures are retried, and once
    the lock is gone every record is spooled and the trail reports no error."""
    from dicomsec.audit import spool as spool_module
    from dicomsec.audit.trail import open_trail

    monkeypatch.setattr(spool_module, "BUSY_TIMEOUT_MS", 100)
    log = tmp_path / "audit.log"
    trail = open_trail([log.as_uri()], tmp_path / "sp")
    try:
        ctx = tls.client_context("b12", _store(pki), cert=pki.cert("client"),
                                 key=pki.key("client"))
        with _scp(pki, tmp_path, trail.handle) as server:
            other = sqlite3.connect(tmp_path / "sp" / "spool.sqlite3", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                for _ in range(2):
                    assert dimse.echo("127.0.0.1", server.port, ctx, called_aet="DICOMSEC",
                                      timeout=10).ok
                deadline = time.monotonic() + 20
                while "not spooled" not in caplog.text:  # the writer met the lock
                    assert time.monotonic() < deadline, "the spool was never busy"
                    time.sleep(0.05)
            finally:
                other.execute("ROLLBACK")
                other.close()
        trail.flush()
    finally:
        trail.close()
    assert trail.errors == []
    text = log.read_text("utf-8")
    assert text.count("Node Authentication") == 2 and "110121" in text


def _audit_of(*handlers: Callable[[AuditEvent], object], **options: Any) -> ScpAudit:
    return ScpAudit(handlers, **options)


def test_queue_overflow_is_counted_and_reported_once() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[AuditEvent] = []

    def slow(event: AuditEvent) -> None:
        started.set()
        release.wait(30)
        seen.append(event)

    audit = _audit_of(slow, capacity=2)
    audit.application(True, "first")
    assert started.wait(20)          # the writer holds the first event
    for n in range(5):
        audit.application(True, f"more {n}")
    assert audit.dropped == 3
    release.set()
    audit.stop("stopped")
    assert [e.operation for e in seen] == [Operation.APPLICATION_START] * 3 + [
        Operation.POLICY_VIOLATION, Operation.APPLICATION_STOP]
    alert = seen[3]
    assert alert.description.startswith("3 audit events dropped")
    assert alert.outcome is Outcome.SERIOUS_FAILURE
    _valid(seen)


REASON = "connection closed during the TLS handshake"


def test_refusals_are_aggregated_per_ip_and_reason() -> None:
    """Five probes of one IP and one of another: the first of each at once, then one "4
    more refusals" event when the window ends; nothing per probe."""
    events = Collector()
    audit = _audit_of(events, window=0.3)
    for _ in range(5):
        audit.tls_refused(("10.0.0.7", 4000), REASON)
    audit.tls_refused(("10.0.0.8", 4000), REASON)
    summary = _wait(events, Operation.ASSOCIATION_REFUSED, 3)[2]
    audit.stop("stopped")
    refused = [e for e in events.events if e.operation is Operation.ASSOCIATION_REFUSED]
    assert len(refused) == 3
    assert [e.objects[0].id for e in refused[:2]] == ["10.0.0.7", "10.0.0.8"]
    assert summary.description.startswith("4 more refusals of 10.0.0.7 since ")
    assert summary.description.endswith(REASON)
    assert events.events[-1].operation is Operation.APPLICATION_STOP
    _valid(events.events)


def test_refusals_over_the_rate_are_counted_and_summarised_at_stop() -> None:
    events = Collector()
    audit = _audit_of(events, alerts_per_second=2)
    hosts = [f"10.0.1.{n}" for n in range(6)]
    for host in hosts:
        audit.tls_refused((host, 1), REASON)
    audit.stop("stopped")
    refused = [e for e in events.events if e.operation is Operation.ASSOCIATION_REFUSED]
    assert sorted(e.objects[0].id for e in refused) == hosts   # one event per host
    assert any(e.description.startswith(f"1 refusal of {e.objects[0].id} since ")
               for e in refused)                                 # counted, said at stop
    assert events.events[-1].operation is Operation.APPLICATION_STOP


def test_transfers_flush_by_total_groups_and_age() -> None:
    from dicomsec.transport._audit import MAX_AGE, MAX_GROUPS, MAX_INSTANCES, StudyFacts

    by_total = Transfers()
    for n in range(MAX_INSTANCES):
        assert not by_total.full()
        by_total.add(StudyFacts(f"1.2.{n % 3}"), "1.2.840.10008.5.1.4.1.1.2", f"1.3.{n}")
    assert by_total.full()          # across three studies
    by_groups = Transfers()
    for n in range(MAX_GROUPS + 1):
        by_groups.add(StudyFacts(f"1.2.{n}"), "c", "i", None if n % 2 else "refused")
    assert len(by_groups.groups) > MAX_GROUPS and by_groups.full()
    by_age = Transfers()
    by_age.add(StudyFacts("1.2"), "c", "i")
    assert not by_age.full()
    assert by_age.oldest is not None
    by_age.oldest -= MAX_AGE
    assert by_age.full()
    taken = by_age.take()
    assert taken.counts and by_age.oldest is None and not by_age.counts


def test_user_identity_name_is_capped_and_cleaned() -> None:
    from types import SimpleNamespace

    from dicomsec.transport._audit import NAME_CHARACTERS, _user_identity_event

    identity = SimpleNamespace(user_identity_type=2, secondary_field=PASSCODE.encode(),
                               primary_field=b"eve\x1b[31m\r\n" + b"x" * 5000)
    event = _user_identity_event(identity, "10.0.0.9", "CALLER")
    user = event.participants[0].user_id
    assert len(user) == NAME_CHARACTERS and user.endswith("[cut]")
    assert user.startswith("eve") and not any(ord(c) < 32 for c in user)
    assert PASSCODE not in repr(event)
    _valid([event])


def test_scu_refusal_is_decided_without_the_failure_text(pki: Pki, tmp_path: Path) -> None:
    """The SCP ends the TLS session of a SHA-224 client before any A-ASSOCIATE-AC
    ("association aborted": no "TLS" in the text): a refusal. A port where nothing listens
    is no refusal."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_verify_locations(pki.ca)
    ctx.load_cert_chain(pki.cert("client-sha224"), pki.key("client-sha224"))
    events = Collector()
    with _scp(pki, tmp_path) as server:
        report = dimse.echo("127.0.0.1", server.port, ctx, called_aet="DICOMSEC",
                            handlers=[events])
    assert not report.ok
    refused = [e for e in events.events if e.operation is Operation.ASSOCIATION_REFUSED]
    assert len(refused) == 1 and not refused[0].participants[0].is_requestor
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    nothing = Collector()
    report = dimse.echo("127.0.0.1", closed, ctx, called_aet="DICOMSEC", timeout=5,
                        handlers=[nothing])
    assert not report.ok and nothing.events == []


@pytest.mark.parametrize("wrapped", [False, True])
def test_the_scp_commands_handler_is_retried_on_a_busy_spool(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        wrapped: bool) -> None:
    """``dicomsec scp`` hands the SCP a handler naming the command whose ``errors`` are the
    trail's: a busy spool is seen and retried through it as through ``Trail.handle``."""
    from dicomsec.audit import spool as spool_module
    from dicomsec.audit.trail import open_trail
    from dicomsec.cli.commands.transport import _ScpRecorder

    monkeypatch.setattr(spool_module, "BUSY_TIMEOUT_MS", 100)
    log = tmp_path / "audit.log"
    trail = open_trail([log.as_uri()], tmp_path / "sp")
    try:
        handler = _ScpRecorder(trail, "scp").handle if wrapped else trail.handle
        audit = ScpAudit([handler])
        other = sqlite3.connect(tmp_path / "sp" / "spool.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            audit.application(True, "scp listening")
            deadline = time.monotonic() + 20
            while "not spooled" not in caplog.text:
                assert time.monotonic() < deadline, "the spool was never busy"
                time.sleep(0.05)
        finally:
            other.execute("ROLLBACK")
            other.close()
        audit.stop("scp stopped")
        trail.flush()
    finally:
        trail.close()
    assert trail.errors == []
    text = log.read_text("utf-8")
    assert "110120" in text and "110121" in text


def test_tcp_probes_are_one_refusal_and_one_summary(pki: Pki, tmp_path: Path) -> None:
    """Three connections closed before any ClientHello (health checks, a port scan): one
    refusal naming the probe at once, the two others in one summary at shutdown."""
    events = Collector()
    with _scp(pki, tmp_path, events) as server:
        for _ in range(3):
            socket.create_connection(("127.0.0.1", server.port), timeout=10).close()
        _wait(events, Operation.ASSOCIATION_REFUSED)
        audit = server._audit
        assert audit is not None
        deadline = time.monotonic() + 20
        while sum(r.count for r in audit._refusals.values()) < 2:  # the two others counted
            assert time.monotonic() < deadline, audit._refusals
            time.sleep(0.02)
    refused = [e for e in events.events if e.operation is Operation.ASSOCIATION_REFUSED]
    assert [e.description for e in refused] == [
        f"TLS handshake failed: {tls.PROBE_REASON}",
        refused[1].description]
    assert refused[1].description.startswith("2 more refusals of 127.0.0.1 since ")
    assert refused[1].description.endswith(tls.PROBE_REASON)
    assert events.events[-1].operation is Operation.APPLICATION_STOP
    _valid(events.events)


def test_a_scan_from_many_hosts_is_bounded() -> None:
    """Refusals of more hosts than are counted apart fold into one 'other hosts' count:
    bounded memory and a bounded number of records (review RE)."""
    from dicomsec.transport._audit import MAX_REFUSAL_KEYS

    events = Collector()
    audit = _audit_of(events, alerts_per_second=1_000_000)
    hosts = MAX_REFUSAL_KEYS + 500
    for n in range(hosts):
        audit.tls_refused((f"fd00::{n:x}", 1), REASON)
    assert len(audit._refusals) <= MAX_REFUSAL_KEYS + 1
    audit.stop("stopped")
    refused = [e for e in events.events if e.operation is Operation.ASSOCIATION_REFUSED]
    assert len(refused) <= MAX_REFUSAL_KEYS + 2
    assert any("other hosts" in e.description for e in refused)


def test_records_abandoned_at_stop_fail_the_command() -> None:
    """An event the spool never took before the SCP stopped leaves a 'not spooled' line in
    the trail's errors (the command then ends with exit 2), never only a log line."""

    class Busy:
        def __init__(self) -> None:
            self.errors: list[str] = []

        def handle(self, event: AuditEvent) -> None:
            self.errors.append("audit record not spooled: database is locked")

    trail = Busy()
    audit = ScpAudit([trail.handle])
    audit.application(True, "started")
    audit.stop("stopped", timeout=0.3)
    assert any("not spooled" in line for line in trail.errors)
