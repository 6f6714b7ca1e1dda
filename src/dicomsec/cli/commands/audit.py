"""``dicomsec audit ...``: validate, read, deliver and inspect audit records (docs/audit.md).

``validate`` and ``status`` run without an audit trail (``main()`` opens none for them); ``tail``
and ``flush`` read the audit log and say so with an Audit Log Used record (110101).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NamedTuple

from dicomsec.cli._root import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_SECURITY,
    command,
    err,
    print_json,
    printable,
)

if TYPE_CHECKING:
    import typer

    from dicomsec.audit._config import AuditConfig
    from dicomsec.audit.spool import SpoolStatus
    from dicomsec.audit.trail import FlushReport

__all__ = ["Record", "last_records", "line_records", "read_records", "record_problems"]

_BOM = b"\xef\xbb\xbf"
_MESSAGE = b"<AuditMessage"

class Record(NamedTuple):
    """One audit record read from a file: its line (1 for a whole-file message), its kind
    (``xml``, ``fhir`` or ``bad``), its content (the XML bytes, the FHIR resource, or why the
    line is not a record) and the JSON object of its line, if it was one."""

    line: int
    kind: str
    content: Any
    raw: dict[str, Any] | None = None


def _from_json(number: int, obj: object) -> Record:
    if not isinstance(obj, dict):
        return Record(number, "bad", "not a JSON object")
    if obj.get("resourceType") == "AuditEvent":
        return Record(number, "fhir", obj, obj)
    for key in ("xml", "msg"):  # the file sink's lines; rsyslog's stored messages (msg)
        text = obj.get(key)
        if isinstance(text, str):
            return Record(number, "xml", text.encode("utf-8").removeprefix(_BOM), obj)
    return Record(number, "bad", "a JSON object without 'xml', 'msg' or resourceType "
                  "AuditEvent")


def read_records(data: bytes) -> Iterator[Record]:
    """The records of an audit file: one XML message (a whole ``.xml`` file), or one record a
    line (the file sink's JSON lines, a FHIR ``.ndjson``, rsyslog's stored JSON, or XML on one
    line). Blank lines are skipped."""
    body = data.removeprefix(_BOM).lstrip()
    if body.startswith(b"<") and body.count(_MESSAGE) <= 1:
        yield Record(1, "xml", body)  # one message, however it is laid out
        return
    yield from line_records(data)


def line_records(data: bytes, first: int = 1) -> Iterator[Record]:
    """The records of ``data`` read one a line (``first``: the number of its first line).
    A line nested too deeply for the JSON reader is a bad line like any other."""
    for number, line in enumerate(data.splitlines(), first):
        line = line.strip()
        if not line:
            continue
        if line.removeprefix(_BOM).startswith(b"<"):
            yield Record(number, "xml", line.removeprefix(_BOM))
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield Record(number, "bad", f"neither XML nor JSON ({exc})")
            continue
        except RecursionError:
            yield Record(number, "bad", "JSON nested too deeply")
            continue
        yield _from_json(number, obj)


def record_problems(record: Record) -> list[str]:
    """What is wrong with one record: the schema's problems for DICOM XML, the FHIR model's
    for a FHIR AuditEvent (``[]``: valid).

    Raises:
        InvalidInput: a FHIR record and the FHIR model library (extra ``fhir``) is missing.
    """
    kind, content = record.kind, record.content
    if kind == "bad":
        return [str(content)]
    try:
        if kind == "fhir":
            from dicomsec.audit.fhir import validate_fhir

            return validate_fhir(content)
        from dicomsec.audit.schema import validate

        return validate(content)
    except RecursionError:  # a record nested too deeply to check is not a valid one
        return ["nested too deeply to be checked"]


def _validate_file(path: Path) -> tuple[int, int, list[str]]:
    """``(records, exit code, problem lines)`` of one file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return 0, EXIT_INPUT, [f"{path}: {exc.strerror or exc}"]
    count = 0
    lines: list[str] = []
    for record in read_records(data):
        count += 1
        lines.extend(f"{path}:{record.line}: {p}" for p in record_problems(record))
    return count, EXIT_SECURITY if lines else EXIT_OK, lines


@command("validate", group="audit")
def validate_cmd(
    paths: Annotated[list[Path], typer.Argument(
        help="Audit messages: .xml files (one message), the file sink's log, a FHIR .ndjson, "
             "rsyslog's stored JSON lines.", show_default=False)],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON: a list of {path, records, valid, problems}.")] = False,
) -> int:
    """Check audit messages: DICOM XML against the PS3.15 A.5.1 schema (RELAX NG), FHIR
    AuditEvents with the FHIR model. Exit 1 if one is invalid, 2 if a file cannot be read."""
    results = []
    codes = set()
    for path in paths:
        count, code, problems = _validate_file(path)
        codes.add(code)
        results.append({"path": str(path), "records": count, "valid": code == EXIT_OK,
                        "problems": problems})
        if not as_json:
            for line in problems:
                err(printable(line))
            if code == EXIT_OK:
                print(printable(f"{path}: {count} record{'s' if count != 1 else ''} valid"))
    if as_json:
        print_json(results)
    return next((c for c in (EXIT_SECURITY, EXIT_INPUT) if c in codes), EXIT_OK)


# ------------------------------------------------------------------------------------------
# tail


def _xml_line(xml: bytes) -> str:
    """One line for people from a DICOM audit message: time, event, action, outcome, objects."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)  # noqa: S314 - our own log; only read for display
    except ET.ParseError as exc:
        return f"(not XML: {exc})"
    ident = root.find("EventIdentification")
    if ident is None:
        return "(no EventIdentification)"
    event = ident.find("EventID")
    types = [t.get("originalText", "") for t in ident.findall("EventTypeCode")]
    what = (event.get("originalText", "") if event is not None else "?") + \
        (f" [{', '.join(types)}]" if types else "")
    objects = [o.findtext("ParticipantObjectName") or o.get("ParticipantObjectID") or "?"
               for o in root.findall("ParticipantObjectIdentification")]
    outcome = ident.get("EventOutcomeIndicator", "?")
    return (f"{ident.get('EventDateTime', '-')}  {what}  {ident.get('EventActionCode', '-')}  "
            f"outcome {outcome}" + (f"  {'; '.join(objects)}" if objects else ""))


def _fhir_line(resource: dict[str, Any]) -> str:
    kind = resource.get("type", {}).get("display") or resource.get("type", {}).get("code", "?")
    subtypes = [s.get("display", s.get("code", "")) for s in resource.get("subtype", [])]
    return (f"{resource.get('recorded', '-')}  {kind}"
            + (f" [{', '.join(subtypes)}]" if subtypes else "")
            + f"  {resource.get('action', '-')}  outcome {resource.get('outcome', '?')}")


def _show(record: Record, as_json: bool) -> None:
    kind, content = record.kind, record.content
    if as_json:
        shown = record.raw if record.raw is not None else \
            {"xml": content.decode("utf-8", "replace")} if kind == "xml" else {"error": content}
        print(json.dumps(shown, ensure_ascii=False), flush=True)
        return
    line = _xml_line(content) if kind == "xml" else _fhir_line(content) if kind == "fhir" \
        else f"(unreadable line: {content})"
    print(printable(line), flush=True)



def _config() -> AuditConfig:
    """The audit configuration of this run (``--audit``, ``DICOMSEC_AUDIT``, the config
    file, the defaults)."""
    from dicomsec.audit._config import resolve
    from dicomsec.cli._audit import audit_options

    options = audit_options()
    return resolve(options.urls, options.spool)


def _log_file(given: Path | None) -> Path:
    """The file sink to read: ``given``, else the first ``file://`` sink configured."""
    if given is not None:
        return given
    from urllib.parse import unquote, urlsplit

    config = _config()
    for url in config.urls:
        parts = urlsplit(url)
        if parts.scheme == "file":
            return Path(unquote(parts.path))
    from dicomsec.cli._root import usage

    raise usage("no file sink is configured (" + (", ".join(config.urls) or "auditing is off")
                + "): name the log with --file")


def _log_used(path: Path, flush: bool = False) -> None:
    """Record that the audit log at ``path`` was read (Audit Log Used, 110101)."""
    from dicomsec.cli._audit import audit_handlers, current_trail
    from dicomsec.events import AuditEvent, AuditObject, ObjectKind, Operation, emit

    emit(audit_handlers(), AuditEvent(
        Operation.AUDIT_LOG_USED, objects=(AuditObject(
            ObjectKind.AUDIT_LOG, path.resolve().as_uri(), name=path.name),),
        command="audit"))
    trail = current_trail()
    if flush and trail is not None:  # a long --follow: deliver the record now, not at the end
        import time

        trail.flush(time.monotonic() + trail.bound, force=False)  # bounded, backoff kept


#: how much ``audit tail`` reads at a time (backwards for the last records, forwards when
#: following)
_BLOCK = 64 << 10


def _single_message(fh: BinaryIO, end: int) -> bool:
    """Whether the first ``end`` bytes of ``fh`` are one XML message (what
    :func:`read_records` reads as a whole): they start with ``<`` (after a BOM and blanks)
    and hold ``<AuditMessage`` at most once. Read forwards a block at a time."""
    fh.seek(0)
    head = fh.read(min(end, len(_BOM)))
    start = len(_BOM) if head == _BOM else 0
    fh.seek(start)
    seen, count, carry, pos = False, 0, b"", start
    while pos < end:
        block = fh.read(min(_BLOCK, end - pos))
        if not block:
            break
        pos += len(block)
        if not seen:
            body = block.lstrip()
            if not body:
                continue
            if not body.startswith(b"<"):
                return False
            seen = True
        data = carry + block
        count += data.count(_MESSAGE) - carry.count(_MESSAGE)
        if count > 1:
            return False
        carry = data[-(len(_MESSAGE) - 1):]
    return seen


def _complete_end(fh: BinaryIO, size: int) -> tuple[int, bytes]:
    """``(end, tail)``: the offset after the last newline of ``fh`` (0: none) and the bytes
    read backwards to find it, cut at ``end``."""
    pos, buf = size, b""
    while pos > 0:
        step = min(_BLOCK, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        cut = buf.rfind(b"\n")
        if cut >= 0:
            return pos + cut + 1, buf[:cut + 1]
    return 0, b""


def last_records(fh: BinaryIO, count: int) -> tuple[list[Record], int]:
    """``(the last count records of the complete lines of fh, the offset after them)``: what
    :func:`read_records` gives for the whole file up to its last newline, read backwards a
    block at a time until ``count`` records are in hand (memory bounded by the records
    shown, not the log). A file that is one XML message is read whole. Line numbers count
    from the first line read."""
    size = fh.seek(0, 2)
    end, buf = _complete_end(fh, size)
    if count == 0 or end == 0:
        return [], end
    if _single_message(fh, end):
        fh.seek(0)
        return list(read_records(fh.read(end)))[-count:], end
    pos, step = end - len(buf), _BLOCK
    while True:
        window = buf if pos == 0 else buf[buf.find(b"\n") + 1:] if b"\n" in buf else b""
        if pos == 0 or sum(1 for line in window.splitlines() if line.strip()) >= count:
            return list(line_records(window))[-count:], end
        step = min(step * 2, pos, 64 << 20)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf


def _read_on(fh: BinaryIO, pending: bytes, as_json: bool) -> bytes:
    """Show the complete records from ``fh``'s position to its end; returns the incomplete
    last line (to be completed by the next read)."""
    while True:
        chunk = fh.read(_BLOCK)
        if not chunk:
            return pending
        complete, _, pending = (pending + chunk).rpartition(b"\n")
        if complete:
            for record in line_records(complete + b"\n"):
                _show(record, as_json)


def _follow(path: Path, offset: int, as_json: bool, interval: float) -> None:
    """Print the records appended to ``path`` after ``offset`` until interrupted, through an
    open handle: a log truncated in place (copytruncate: smaller than what was read) is read
    again from its start; a log replaced (rotated: another device or inode at ``path``) is
    read to its end, then the new one from its start."""
    import os
    import time

    fh: BinaryIO | None = None
    ident: tuple[int, int] | None = None
    pending = b""
    try:
        fh = open(path, "rb")  # kept open across the loop, closed below
        st = os.fstat(fh.fileno())
        ident = (st.st_dev, st.st_ino)
        fh.seek(offset if st.st_size >= offset else 0)
    except FileNotFoundError:
        pass
    try:
        while True:
            time.sleep(interval)
            if fh is not None:
                if os.fstat(fh.fileno()).st_size < fh.tell():  # truncated in place
                    fh.seek(0)
                    pending = b""
                pending = _read_on(fh, pending, as_json)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # rotated away, not created again yet: the old one was read out
            if fh is None or (st.st_dev, st.st_ino) != ident:
                if fh is not None:
                    fh.close()
                fh, pending = open(path, "rb"), b""
                st = os.fstat(fh.fileno())
                ident = (st.st_dev, st.st_ino)
                pending = _read_on(fh, pending, as_json)
    finally:
        if fh is not None:
            fh.close()


@command("tail", group="audit")
def tail_cmd(
    lines: Annotated[int, typer.Option("-n", "--lines", min=0,
                                       help="How many of the last records to show.")] = 10,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Keep reading: show records as they are appended (Ctrl-C "
                               "ends).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object a line: the file sink's record ({xml, ...}) or the "
                       "FHIR AuditEvent.")] = False,
    file: Annotated[Path | None, typer.Option(
        "--file", help="The log to read (default: the configured file sink, e.g. "
                       "<state folder>/audit.log).", show_default=False)] = None,
    interval: Annotated[float, typer.Option(
        "--interval", min=0.05, help="Seconds between two looks with --follow.")] = 0.5,
) -> int:
    """Show the last records of the audit log (the file sink), for people or as JSON; with
    --follow, keep showing new ones. Reading the log is itself audited (Audit Log Used)."""
    path = _log_file(file)
    try:
        with open(path, "rb") as fh:
            records, end = last_records(fh, lines)
    except FileNotFoundError:
        if not follow:
            err(printable(f"error: {path}: no audit log yet"))
            return EXIT_INPUT
        records, end = [], 0
    _log_used(path, flush=follow)
    for record in records:
        _show(record, as_json)
    if follow:
        _follow(path, end, as_json, interval)
    return EXIT_OK


# ------------------------------------------------------------------------------------------
# flush


def _flush_lines(report: FlushReport) -> None:
    for s in report.sinks:
        why = f"; {s.error}" if s.error else f"; skipped: {s.skipped}" if s.skipped else ""
        line = f"{s.sink}: {s.delivered} delivered, {s.remaining} waiting{why}"
        if s.error or s.skipped or s.remaining:
            err(printable(f"error: {line}"))
        else:
            print(printable(line))


@command("flush", group="audit")
def flush_cmd(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON: the flush report (dicomsec.audit.flush/1).")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds to keep delivering before giving up.")] = 30.0,
) -> int:
    """Deliver the records waiting in the audit spool to their sinks now (backoff ignored).
    Exit 1 when a sink refused or could not take everything in time, with its reason; what
    was not delivered stays in the spool."""
    import time

    from dicomsec.cli._audit import current_trail

    trail = current_trail()
    if trail is None or trail.spool is None:
        print("auditing is off: nothing to deliver")
        return EXIT_OK
    _log_used(trail.spool.path)
    report = trail.flush(time.monotonic() + timeout)
    if as_json:
        print_json(report)
    else:
        _flush_lines(report)
    return EXIT_OK if report.ok else EXIT_SECURITY


# ------------------------------------------------------------------------------------------
# status


def _status_lines(status: SpoolStatus) -> None:
    print(printable(f"spool {status.path}: {status.depth} waiting"))
    for s in status.sinks:
        print(printable(
            f"  {s.sink}: {s.depth} waiting" + (f" (oldest {s.oldest})" if s.oldest else "")
            + f"; {s.delivered} delivered, last {s.last_delivery or 'never'}"
            + (f"; last error {s.last_error} ({s.failures} failed attempt"
               f"{'s' if s.failures != 1 else ''}, next {s.next_attempt or 'now'})"
               if s.last_error else "")))


def _sink_name(url: str) -> str:
    """The sink's name as the spool knows it (the URL without its query)."""
    from dicomsec.audit.sinks import parse_sink
    from dicomsec.errors import InvalidInput

    try:
        return parse_sink(url).name
    except InvalidInput as exc:
        return f"{url.partition('?')[0]} (unusable: {exc})"


@command("status", group="audit")
def status_cmd(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON: the spool report (dicomsec.audit.spool/1).")] = False,
) -> int:
    """Show the audit spool: records waiting per sink, the oldest, the last delivery and the
    last error. Exit 1 when a sink's last attempt failed."""
    from dicomsec.audit._config import resolve
    from dicomsec.audit.spool import FILE_NAME, Spool
    from dicomsec.cli._audit import audit_options
    from dicomsec.cli._root import exit_code

    options = audit_options()
    config = resolve(options.urls, options.spool)
    if not (config.spool / FILE_NAME).exists():  # nothing recorded yet: do not create it
        from dicomsec.audit.spool import SpoolStatus as _Status

        report = _Status(str(config.spool / FILE_NAME), ())
    else:
        spool = Spool(config.spool)
        try:
            report = spool.status()
        finally:
            spool.close()
    if as_json:
        print_json(report)
    else:
        _status_lines(report)
        if config.off:
            print("auditing is off")
        else:
            print(printable("sinks: " + ", ".join(_sink_name(u) for u in config.urls)))
    return exit_code(report)
