"""RFC 5424 records and RFC 5425 frames (spec audit.md §5): PRI, MSGID, BOM, octet counts in
BYTES, header checks; sink URLs and the size limits (over the limit: refused, never cut)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dicomsec.audit.messages import AuditMessage, AuditSource, dicom_messages, event_time
from dicomsec.audit.sinks import FileSink, TlsSink, UdpSink, parse_sink
from dicomsec.audit.syslog import BOM, octet_frame, syslog_record
from dicomsec.audit.trail import open_trail
from dicomsec.errors import InvalidInput
from dicomsec.events import AuditEvent, Operation
from tests.audit.receiver import PKI_SYSLOG

XML = '<?xml version="1.0" encoding="UTF-8"?><AuditMessage><x>Müller^Jürgen</x></AuditMessage>'
SOURCE = AuditSource(source_id="dicomsec@host", hostname="host.example", process_id="4242")
WHEN = datetime(2026, 12, 2, 13, 5, 6, 123456, tzinfo=UTC)


def message(xml: str = XML, severity: int = 5) -> AuditMessage:
    return AuditMessage(xml=xml.encode(), event_id="110103", outcome=0, severity=severity)


@pytest.mark.parametrize(("severity", "pri"), [(5, b"<85>"), (4, b"<84>")])
def test_record_header(severity: int, pri: bytes) -> None:
    record = syslog_record(message(severity=severity), SOURCE, WHEN)
    assert record == (pri + b"1 2026-12-02T13:05:06.123456Z host.example dicomsec 4242 "
                      b"DICOM+RFC3881 - " + BOM + XML.encode())


def test_record_time_zone_and_nil_fields() -> None:
    when = WHEN.astimezone(timezone(timedelta(hours=8)))
    source = AuditSource(source_id="x", hostname="", process_id="")
    record = syslog_record(message(), source, when)
    assert record.startswith(b"<85>1 2026-12-02T21:05:06.123456+08:00 - dicomsec - "
                             b"DICOM+RFC3881 - \xef\xbb\xbf<?xml")


def test_naive_and_seconds_offsets_agree_in_xml_and_syslog() -> None:
    """A naive time is local time, an offset with seconds is rounded to minutes: the same
    instant and zone in the syslog TIMESTAMP and the XML EventDateTime."""
    lmt = timezone(timedelta(minutes=9, seconds=21))   # Paris mean time, as tzdata has it
    for when in (WHEN.replace(tzinfo=None), WHEN.astimezone(lmt)):
        msg = dicom_messages(AuditEvent(Operation.SIGN, when=when), SOURCE)[0]
        stamp = syslog_record(msg, SOURCE, when).split(b" ")[1].decode()
        xml_time = msg.xml.decode().split('EventDateTime="')[1].split('"')[0]
        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == event_time(when)
        assert datetime.fromisoformat(xml_time) == event_time(when)
        offset = event_time(when).utcoffset()
        assert offset is not None and offset.seconds % 60 == 0
    assert event_time(WHEN.astimezone(lmt)).utcoffset() == timedelta(minutes=9)


@pytest.mark.parametrize(("field", "value"), [
    ("hostname", "höst"), ("hostname", "has space"), ("hostname", "h" * 256),
    ("app_name", "a" * 49), ("process_id", "p" * 129),
])
def test_record_header_checks(field: str, value: str) -> None:
    values: dict[str, Any] = {field: value}
    source = dataclasses.replace(AuditSource(source_id="x", hostname="h"), **values)
    with pytest.raises(InvalidInput, match="syslog"):
        syslog_record(message(), source, WHEN)


def test_octet_frame_counts_bytes() -> None:
    record = syslog_record(message(), SOURCE, WHEN)
    frame = octet_frame(record)
    assert len(record) > len(record.decode("utf-8"))  # BOM and umlauts: bytes > characters
    assert frame == str(len(record)).encode() + b" " + record
    length, rest = frame.split(b" ", 1)
    assert int(length) == len(rest)


def _event() -> AuditEvent:
    return AuditEvent(Operation.SIGN, when=WHEN)


@pytest.mark.parametrize(("url", "limit"), [
    ("syslog+tls://127.0.0.1:6514?ca={ca}", 32768),
    ("syslog+tls://127.0.0.1:6514?ca={ca}&max=65536", 65536),
    ("syslog+udp://127.0.0.1:5514", 8192),      # the default (receivers configured for it)
    ("syslog+udp://127.0.0.1:5514?max=2048", 2048),
])
def test_size_limit_refuses_never_cuts(url: str, limit: int) -> None:
    sink = parse_sink(url.format(ca=PKI_SYSLOG / "ca.cert.pem"))
    head = len(syslog_record(message(""), SOURCE, WHEN))
    fits = message("x" * (limit - head))
    assert len(sink.payload(_event(), fits, SOURCE)) == limit
    with pytest.raises(InvalidInput, match=f"over the limit of {limit}"):
        sink.payload(_event(), message("x" * (limit - head + 1)), SOURCE)


def test_parse_sinks(tmp_path: Path) -> None:
    ca, cert, key = (PKI_SYSLOG / f"{n}.pem" for n in ("ca.cert", "client.cert", "client.key"))
    tls = parse_sink(f"syslog+tls://localhost?ca={ca}&cert={cert}&key={key}&name=rep.test")
    assert isinstance(tls, TlsSink)
    assert (tls.port, tls.server_name, tls.name, tls.kind) == (
        6514, "rep.test", "syslog+tls://localhost:6514", "syslog+tls")
    udp = parse_sink("syslog+udp://[::1]")
    assert isinstance(udp, UdpSink) and udp.name == "syslog+udp://[::1]:514"
    log = parse_sink((tmp_path / "a b.log").as_uri())
    assert isinstance(log, FileSink) and log.path == tmp_path / "a b.log"
    assert parse_sink((tmp_path / "x.ndjson").as_uri().replace("file:", "fhir-file:")).per_event


@pytest.mark.parametrize("url", [
    "smtp://x", "file:relative.log", "syslog+udp://:514", "syslog+udp://h:99999",
    "syslog+udp://h?max=10", "syslog+udp://h?max=65508", "syslog+udp://h?bogus=1", "syslog+tls://h",
    "syslog+tls://h?ca=/nonexistent/ca.pem",
    f"syslog+tls://h?ca={PKI_SYSLOG / 'ca.cert.pem'}&cert={PKI_SYSLOG / 'client.cert.pem'}",
    "syslog+udp://h:0", "file://otherhost/var/log/audit.log", "file:///var/log/a.log#frag",
    "fhir-file:///x.ndjson#", "syslog+udp://user:secret-pw@h:514",
    "syslog+tls://h?ca=/nonexistent/secret-value.pem&password-file=/secret-value",
])
def test_bad_urls(url: str) -> None:
    with pytest.raises(InvalidInput, match="audit sink") as caught:
        parse_sink(url)
    # error lines never echo user information or query values
    assert "secret" not in str(caught.value)


def test_query_values_decoded_once(tmp_path: Path) -> None:
    """``+`` stays ``+``, ``%2B`` is ``+`` (not decoded twice), ``%20`` a space; a file path
    with a space works percent-encoded; file://localhost/ is the local host."""
    odd = tmp_path / "a+b %41"
    odd.mkdir()
    ca = odd / "ca.pem"
    ca.write_bytes((PKI_SYSLOG / "ca.cert.pem").read_bytes())
    sink = parse_sink(f"syslog+tls://h?ca={tmp_path}/a+b%20%2541/ca.pem")
    assert isinstance(sink, TlsSink) and sink.ca == ca
    log = parse_sink(f"file://localhost{tmp_path}/x%20y.log")
    assert isinstance(log, FileSink) and log.path == tmp_path / "x y.log"


def test_file_sink_refuses_a_fifo_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.log"
    os.mkfifo(fifo)
    sink = parse_sink(fifo.as_uri())
    assert sink.deliver([b"{}\n"], time.monotonic() + 1) == 0
    assert "not a regular file" in (sink.last_error or "")


def test_file_sink_ends_a_torn_line(tmp_path: Path) -> None:
    """A process killed in the middle of an append leaves a line without its newline: the
    next append ends it first, so that the next record stays a line of its own."""
    log = tmp_path / "audit.log"
    log.write_bytes(b'{"whole": 1}\n{"torn"')
    sink = parse_sink(log.as_uri())
    assert sink.deliver([b'{"next": 2}\n'], time.monotonic() + 1) == 1
    assert log.read_bytes().split(b"\n") == [b'{"whole": 1}', b'{"torn"', b'{"next": 2}', b""]


def test_encrypted_client_key_without_password_never_prompts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No password-file= and no $DICOMSEC_KEY_PASSWORD: an error at once (OpenSSL's own
    terminal prompt would hang the command)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((PKI_SYSLOG / "client.key.pem").read_bytes(), None)
    encrypted = tmp_path / "client.key.enc.pem"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase")))
    monkeypatch.delenv("DICOMSEC_KEY_PASSWORD", raising=False)
    sink = parse_sink(f"syslog+tls://127.0.0.1:9?ca={PKI_SYSLOG / 'ca.cert.pem'}"
                      f"&cert={PKI_SYSLOG / 'client.cert.pem'}&key={encrypted}")
    assert sink.deliver([b"x"], time.monotonic() + 5) == 0
    assert "TLS client key needs a password" in (sink.last_error or "")
    monkeypatch.setenv("DICOMSEC_KEY_PASSWORD", "pass phrase")  # the project's fallback
    assert isinstance(sink, TlsSink) and sink.context() is not None


def test_a_receiver_that_never_reads_keeps_the_records(tmp_path: Path) -> None:
    """The handshake completes, then the receiver neither reads nor closes: the wait for its
    close after close_notify runs out, which is NOT a confirmation (rows stay)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(PKI_SYSLOG / "server.cert.pem", PKI_SYSLOG / "server.key.pem")
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(PKI_SYSLOG / "ca.cert.pem")
    held: list[ssl.SSLSocket] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                held.append(server.wrap_socket(conn, server_side=True))

        threading.Thread(target=serve, daemon=True).start()
        port = listener.getsockname()[1]
        trail = open_trail([f"syslog+tls://127.0.0.1:{port}?ca={PKI_SYSLOG / 'ca.cert.pem'}"
                            f"&cert={PKI_SYSLOG / 'client.cert.pem'}"
                            f"&key={PKI_SYSLOG / 'client.key.pem'}"], tmp_path / "spool",
                           source=SOURCE)
        trail.handle(_event())
        report = trail.flush(time.monotonic() + 1.5)
        trail.close()
    assert not report.ok and report.remaining == 1 and report.delivered == 0
    assert "did not confirm" in (report.sinks[0].error or "")
    for sock in held:
        sock.close()


def test_name_resolution_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that never answers costs a delivery its deadline, not more."""
    gate = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> Any:
        gate.wait(30)
        raise OSError("released")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    sink = parse_sink("syslog+udp://audit.example.invalid:5514")
    started = time.monotonic()
    assert sink.deliver([b"x"], started + 0.3) == 0
    elapsed = time.monotonic() - started
    gate.set()
    assert elapsed < 5 and "in time" in (sink.last_error or "")  # a hang check
