"""Reading one file for the signing policy: one parse serves both the signature check and the
attributes the rules read."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dicomsec._rawdicom import ParsedFile
    from dicomsec.events import AuditHandler
    from dicomsec.policy._judge import Policy, Verdict
    from dicomsec.trust import TrustStore

__all__ = ["check_file", "read_attributes"]


def check_file(path: Path | str, policy: Policy, *, trust: TrustStore | None,
               at: _dt.datetime | _dt.date | None = None,
               handlers: Iterable[AuditHandler] | None = None) -> Verdict:
    """The verdict on one Part 10 file: its signatures verified (as
    :func:`dicomsec.signatures.verify_file` does, with ``trust``, the policy's algorithm
    policy and the day ``at`` for the verification decisions) and the rule's attributes read
    from the same parse (top level only). A verdict that violates a rule is a
    POLICY_VIOLATION event for ``handlers`` (:func:`dicomsec.policy.violation_event`).

    Raises:
        InvalidInput: the file cannot be read or is not DICOM (a limit exceeded included).
    """
    from dicomsec._atomic import regular_input
    from dicomsec._rawdicom import parse_file
    from dicomsec.signatures._verify import verify_all
    from dicomsec.signatures.report import FileReport

    p = Path(path)
    regular_input(p)
    with open(p, "rb") as fh:
        parsed = parse_file(p, fh)
        reports, _covered = verify_all(parsed, fh, trust=trust,
                                       policy=policy.algorithm_policy, at=at)
        attrs = _attributes(parsed, fh, policy.keywords)
    report = FileReport(str(p), tuple(reports), ())
    return policy.evaluate(report, attrs, path=str(p), handlers=handlers)


def _attributes(parsed: ParsedFile, fh: BinaryIO,
                keywords: tuple[str, ...]) -> dict[str, str | None]:
    """The text of ``keywords`` (top level), the character-set dependent VRs decoded with the
    file's Specific Character Set (0008,0005) as pydicom decodes them, so that the command
    line and :meth:`Policy.evaluate` on a pydicom Dataset read the same text."""
    from pydicom.datadict import tag_for_keyword

    from dicomsec.signatures._values import raw_value

    encodings = _encodings(parsed, fh)
    attrs: dict[str, str | None] = {}
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        element = parsed.dataset.find(tag) if tag is not None else None
        raw = raw_value(parsed, fh, element) if element is not None else None
        attrs[keyword] = None if raw is None or element is None else _decode(
            raw, element.vr, encodings)
    return attrs


#: VRs whose text depends on the Specific Character Set, with the characters that reset an
#: ISO 2022 code extension (PS3.5 6.1.2.5.3), as pydicom decodes them
_CHARSET_VRS: dict[str, set[int]] = {
    "SH": {0x5C}, "LO": {0x5C}, "UC": {0x5C}, "PN": {0x5C, 0x5E, 0x3D},
    "ST": {0x09, 0x0A, 0x0C, 0x0D}, "LT": {0x09, 0x0A, 0x0C, 0x0D},
    "UT": {0x09, 0x0A, 0x0C, 0x0D},
}


def _encodings(parsed: ParsedFile, fh: BinaryIO) -> list[str]:
    """The Python codecs of the file's Specific Character Set (default repertoire when
    absent; pydicom's fallbacks, without its warnings, for unknown terms)."""
    import warnings

    from pydicom.charset import convert_encodings

    from dicomsec.signatures._values import raw_value

    raw = raw_value(parsed, fh, parsed.dataset.find(0x00080005))
    terms = [t.strip() for t in raw.decode("latin-1").split("\\")] if raw else [""]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(convert_encodings(terms or [""]))


def _decode(raw: bytes, vr: str, encodings: list[str]) -> str:
    import warnings

    from pydicom.charset import decode_bytes

    value = raw.rstrip(b"\x00 ")
    delimiters = _CHARSET_VRS.get(vr)
    if delimiters is None:
        return value.decode("latin-1").strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return decode_bytes(value, encodings, delimiters).strip()


def read_attributes(path: Path | str, policy: Policy) -> dict[str, str | None]:
    """The attributes ``policy``'s rules read (top level, text decoded with the file's Specific
    Character Set), for a caller that already has the file's signature report (``verify
    --policy``: ``policy.evaluate(report, read_attributes(path, policy))``). Parses the file
    again: :func:`check_file` does both from one parse.

    Raises:
        InvalidInput: the file cannot be read or is not DICOM.
    """
    from dicomsec._atomic import regular_input
    from dicomsec._rawdicom import parse_file

    p = Path(path)
    regular_input(p)
    with open(p, "rb") as fh:
        return _attributes(parse_file(p, fh), fh, policy.keywords)
