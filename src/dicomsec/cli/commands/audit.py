"""``dicomsec audit ...``: validate, read, deliver and inspect audit records (docs/audit.md).

``validate`` and ``status`` run without an audit trail (``main()`` opens none for them); ``tail``
and ``flush`` read the audit log and say so with an Audit Log Used record (110101).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

__all__ = ["Record", "read_records", "record_problems"]

_BOM = b"\xef\xbb\xbf"

#: one audit record read from a file: ``(line number, "xml" | "fhir" | "bad", content)``;
#: content is the XML bytes, the FHIR resource, or why the line is not a record
Record = tuple[int, str, Any]


def _from_json(number: int, obj: object) -> Record:
    if not isinstance(obj, dict):
        return number, "bad", "not a JSON object"
    if obj.get("resourceType") == "AuditEvent":
        return number, "fhir", obj
    for key in ("xml", "msg"):  # the file sink's lines; rsyslog's stored messages (msg)
        text = obj.get(key)
        if isinstance(text, str):
            data = text.encode("utf-8")
            return number, "xml", data.removeprefix(_BOM)
    return number, "bad", "a JSON object without 'xml', 'msg' or resourceType AuditEvent"


def read_records(data: bytes) -> Iterator[Record]:
    """The records of an audit file: one XML message (a whole ``.xml`` file), or one record a
    line (the file sink's JSON lines, a FHIR ``.ndjson``, rsyslog's stored JSON, or XML on one
    line). Blank lines are skipped."""
    body = data.removeprefix(_BOM).lstrip()
    if body.startswith(b"<") and body.count(b"<AuditMessage") <= 1:
        yield 1, "xml", body  # one message, however it is laid out
        return
    for number, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.removeprefix(_BOM).startswith(b"<"):
            yield number, "xml", line.removeprefix(_BOM)
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield number, "bad", f"neither XML nor JSON ({exc})"
            continue
        yield _from_json(number, obj)


def record_problems(record: Record) -> list[str]:
    """What is wrong with one record: the schema's problems for DICOM XML, the FHIR model's
    for a FHIR AuditEvent (``[]``: valid).

    Raises:
        InvalidInput: a FHIR record and the FHIR model library (extra ``fhir``) is missing.
    """
    _, kind, content = record
    if kind == "bad":
        return [str(content)]
    from dicomsec import audit

    if kind == "fhir":
        return audit.validate_fhir(content)
    return audit.validate(content)


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
        lines.extend(f"{path}:{record[0]}: {p}" for p in record_problems(record))
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
    objects = [o.findtext("ParticipantObjectName") or o.get("ParticipantObjectID", "")
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
    _, kind, content = record
    if as_json:
        if kind == "xml":
            content = {"xml": content.decode("utf-8", "replace")}
        elif kind == "bad":
            content = {"error": content}
        print(json.dumps(content, ensure_ascii=False), flush=True)
        return
    line = _xml_line(content) if kind == "xml" else _fhir_line(content) if kind == "fhir" \
        else f"(unreadable line: {content})"
    print(printable(line), flush=True)

