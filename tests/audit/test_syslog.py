"""RFC 5424 records and RFC 5425 frames (spec audit.md §5): PRI, MSGID, BOM, octet counts in
BYTES, header checks; sink URLs and the size limits (over the limit: refused, never cut)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dicomsec.audit.messages import AuditMessage, AuditSource, dicom_messages, event_time
from dicomsec.audit.sinks import FileSink, TlsSink, UdpSink, parse_sink
from dicomsec.audit.syslog import BOM, octet_frame, syslog_record
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
    ("syslog+udp://127.0.0.1:5514", 2048),
    ("syslog+udp://127.0.0.1:5514?max=8192", 8192),
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
])
def test_bad_urls(url: str) -> None:
    with pytest.raises(InvalidInput, match="audit sink"):
        parse_sink(url)
