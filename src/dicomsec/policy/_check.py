"""Reading one file for the signing policy: one parse serves both the signature check and the
attributes the rules read."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from dicomsec._rawdicom import ParsedFile
    from dicomsec.policy._judge import Policy, Verdict
    from dicomsec.trust import TrustStore

__all__ = ["check_file", "read_attributes"]


def check_file(path: Path | str, policy: Policy, *, trust: TrustStore | None,
               at: _dt.datetime | _dt.date | None = None) -> Verdict:
    """The verdict on one Part 10 file: its signatures verified (as
    :func:`dicomsec.signatures.verify_file` does, with ``trust``, the policy's algorithm
    policy and the day ``at`` for the verification decisions) and the rule's attributes read
    from the same parse (top level only).

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
    return policy.evaluate(report, attrs, path=str(p))


def _attributes(parsed: ParsedFile, fh: BinaryIO,
                keywords: tuple[str, ...]) -> dict[str, str | None]:
    from pydicom.datadict import tag_for_keyword

    from dicomsec.signatures._values import text_value

    attrs: dict[str, str | None] = {}
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        element = parsed.dataset.find(tag) if tag is not None else None
        attrs[keyword] = text_value(parsed, fh, element) if element is not None else None
    return attrs


def read_attributes(path: Path | str, policy: Policy) -> dict[str, str | None]:
    """The attributes ``policy``'s rules read (top level, raw text), for a caller that already
    has the file's signature report (``verify --policy``: ``policy.evaluate(report,
    read_attributes(path, policy))``). Parses the file again: :func:`check_file` does both
    from one parse.

    Raises:
        InvalidInput: the file cannot be read or is not DICOM.
    """
    from dicomsec._atomic import regular_input
    from dicomsec._rawdicom import parse_file

    p = Path(path)
    regular_input(p)
    with open(p, "rb") as fh:
        return _attributes(parse_file(p, fh), fh, policy.keywords)
