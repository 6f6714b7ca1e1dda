"""The judge: verify every digital signature of a Part 10 file, at every level.

Each Digital Signatures Sequence item is checked in steps, each adding its problems to the
item's list in this order: the MAC parameters, the item's own attributes, the MAC stream under
the signer's key (integrity), the certified timestamp, the signer's chain at the signing time
(trust), then the profiles the signature satisfies. The algorithm policy's VERIFY decisions on
the signature scheme (with the signer's key) and the MAC digest are carried by every report; a
refusal adds a problem naming the policy. Nothing here writes a file.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dicomsec import algorithms
from dicomsec._rawdicom import (
    EXPLICIT_BE,
    IMPLICIT_LE,
    DataSet,
    Element,
    Item,
    ParsedFile,
    find,
    parse_file,
    tag_str,
)
from dicomsec.errors import InvalidInput
from dicomsec.events import AuditEvent, Operation, Outcome
from dicomsec.signatures._macstream import (
    DIGITAL_SIGNATURES_SEQUENCE,
    MAC_PARAMETERS_SEQUENCE,
    MacStream,
    is_signable,
)
from dicomsec.signatures._profiles import VERIFICATION_FLAG, Profile, profile_problems
from dicomsec.signatures._signer import load_signer, verify_value
from dicomsec.signatures._values import (
    CERT_TYPE_X509,
    CERTIFICATE_OF_SIGNER,
    CERTIFICATE_TYPE,
    CODE_MEANING,
    CODE_VALUE,
    DATA_ELEMENTS_SIGNED,
    MAC_ALGORITHM,
    MAC_ID,
    MAC_TS_UID,
    PURPOSE_SEQUENCE,
    SIGNATURE,
    SIGNATURE_DATETIME,
    SIGNATURE_UID,
    TIMESTAMP,
    TIMESTAMP_CMS_TSP,
    TIMESTAMP_TYPE,
    at_list,
    digest_stream,
    is_sr,
    parse_dt,
    raw_value,
    strip_der_pad,
    text_value,
    unpadded_value,
    us_value,
)
from dicomsec.signatures.report import (
    FileReport,
    SignaturePolicy,
    SignatureReport,
    TimestampReport,
)

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.events import AuditHandler
    from dicomsec.signatures._events import Identity
    from dicomsec.trust import ChainResult, TrustStore

__all__ = ["list_signatures", "verify_all", "verify_dataset_bytes", "verify_file"]

#: tolerated difference between the signer's clock and a TSA's
CLOCK_SKEW = _dt.timedelta(minutes=5)
#: the profiles a verified signature is tested against, in report order
_PROFILES_REPORTED = (Profile.BASE, Profile.CREATOR, Profile.AUTHORIZATION, Profile.SR,
                      Profile.SR_VERIFICATION)
#: elements outside the MAC inside signed items listed one by one (the rest are counted)
UNSIGNED_LISTED = 1000
#: Original Attributes Sequence: signatures inside are copies, not verified in place
ORIGINAL_ATTRIBUTES = 0x04000561
#: the signature structures themselves: never listed as unsigned (each signature is reported)
_SIGNATURE_STRUCTURES = (MAC_PARAMETERS_SEQUENCE, DIGITAL_SIGNATURES_SEQUENCE)


@dataclass(slots=True)
class _Check:
    """One signature item being judged: what it says, and the problems found so far."""

    parsed: ParsedFile
    fh: BinaryIO
    level: DataSet
    item: Item
    problems: list[str]
    #: the signer's chain validation (``None``: not validated: no certificate or no anchors)
    chain: ChainResult | None = None

    def text(self, tag: int) -> str | None:
        return text_value(self.parsed, self.fh, find(self.item.elements, tag))

    def raw(self, tag: int) -> bytes | None:
        return raw_value(self.parsed, self.fh, find(self.item.elements, tag))


# --------------------------------------------------------------------------------------------
# the steps


def _purpose(c: _Check) -> dict[str, str] | None:
    """The Digital Signature Purpose Code Sequence's first code, as code and meaning."""
    pseq = find(c.item.elements, PURPOSE_SEQUENCE)
    if pseq is None or not pseq.items:
        return None
    els = pseq.items[0].elements
    code = text_value(c.parsed, c.fh, find(els, CODE_VALUE)) or ""
    meaning = text_value(c.parsed, c.fh, find(els, CODE_MEANING)) or ""
    return {"code": code, "meaning": meaning}


def _mac_item(c: _Check, mac_id: int | None) -> Item | None:
    """The MAC Parameters item of this level with ``mac_id``."""
    mseq = c.level.find(MAC_PARAMETERS_SEQUENCE)
    if mac_id is None:
        c.problems.append("no MAC ID Number")
    elif mseq is not None and mseq.items:
        for it in mseq.items:
            if us_value(c.parsed, c.fh, find(it.elements, MAC_ID)) == mac_id:
                return it
    c.problems.append(f"no MAC Parameters item with MAC ID {mac_id} at this level")
    return None


def _mac_parameters(c: _Check, mac_id: int | None) -> tuple[algorithms.Algorithm | None,
                                                             list[int]]:
    """Step 1, MAC parameters (PS3.3 C.12.1.1.1): the algorithm, the MAC Calculation Transfer
    Syntax, and the Data Elements Signed, each present and signable at this level."""
    mac_item = _mac_item(c, mac_id)
    if mac_item is None:
        return None, []
    mac_alg = None
    term = text_value(c.parsed, c.fh, find(mac_item.elements, MAC_ALGORITHM)) or ""
    try:
        mac_alg = algorithms.by_dicom_term(term)
    except InvalidInput as exc:
        c.problems.append(str(exc))
    ts = text_value(c.parsed, c.fh, find(mac_item.elements, MAC_TS_UID))
    if ts in (IMPLICIT_LE, EXPLICIT_BE):
        c.problems.append(f"MAC Calculation Transfer Syntax {ts} is not allowed")
    elif not ts:
        c.problems.append("no MAC Calculation Transfer Syntax UID")
    des = find(mac_item.elements, DATA_ELEMENTS_SIGNED)
    listed = at_list(c.parsed, c.fh, des) if des is not None else []
    if listed is None:
        c.problems.append("Data Elements Signed is not a well-formed AT value")
    signed = listed or []
    if not signed:
        c.problems.append("no data elements signed")
    for tag in signed:
        el = find(c.level.elements, tag)
        if el is None:
            c.problems.append(f"signed attribute {tag_str(tag)} is absent")
        elif not is_signable(el):
            c.problems.append(f"signed attribute {tag_str(tag)} is not signable (VR {el.vr})")
    return mac_alg, signed


def _signer(c: _Check) -> tuple[x509.Certificate | None, algorithms.Algorithm | None,
                                bytes | None]:
    """Step 2, the item's own attributes: Certificate Type, Certificate of Signer and its
    signature scheme, Signature value."""
    cert_type = c.text(CERTIFICATE_TYPE)
    value = c.raw(SIGNATURE)
    cert, cert_problem = load_signer(c.raw(CERTIFICATE_OF_SIGNER))
    if cert_type != CERT_TYPE_X509:
        c.problems.append(f"unsupported Certificate Type {cert_type!r}")
    if cert_problem:
        c.problems.append(cert_problem)
    if value is None:
        c.problems.append("no Signature value")
    scheme = None
    if cert is not None:
        try:
            scheme = algorithms.signature_scheme_for_key(cert.public_key())
        except (InvalidInput, ValueError) as exc:
            c.problems.append(str(exc))
    return cert, scheme, value


def _integrity(c: _Check, stream: MacStream, mac_alg: algorithms.Algorithm | None,
               signed: list[int], cert: x509.Certificate | None, value: bytes | None,
               scheme: algorithms.Algorithm | None) -> tuple[bool, algorithms.Algorithm | None]:
    """Step 3: the MAC stream rebuilt from the data verifies under the signer's key; only
    tried when the earlier steps found nothing. Returns (intact, scheme actually used)."""
    if c.problems or mac_alg is None or cert is None or value is None:
        return False, scheme
    try:
        digest = digest_stream(stream, mac_alg, c.level.elements, set(signed), c.item.elements)
    except InvalidInput as exc:
        c.problems.append(str(exc))
        return False, scheme
    scheme, problem = verify_value(cert, value, digest, mac_alg)
    if problem:
        c.problems.append(problem)
        return False, scheme
    return True, scheme


def _timestamp(c: _Check, value: bytes | None, scheme: algorithms.Algorithm | None,
               trust: TrustStore | None) -> tuple[TimestampReport | None, _dt.datetime | None]:
    """Step 4, the certified timestamp (when present): type CMS_TSP, imprint over the
    Signature value, TSA chain. Returns (report, its time when the timestamp is ok)."""
    ts_raw = c.raw(TIMESTAMP)
    if ts_raw is None:
        return None, None
    from dicomsec.signatures.timestamp import verify_timestamp

    ttype = c.text(TIMESTAMP_TYPE)
    status = verify_timestamp(strip_der_pad(ts_raw),
                              unpadded_value(value, scheme) if value else b"", trust)
    if ttype != TIMESTAMP_CMS_TSP:
        c.problems.append(f"Certified Timestamp Type {ttype!r} is not CMS_TSP")
    if not status.ok:
        c.problems.extend(f"timestamp: {p}" for p in status.problems)
        return status, None
    return status, status.time


def _signing_time_ok(c: _Check, cert: x509.Certificate, when: _dt.datetime | None,
                     when_text: str | None, ts_time: _dt.datetime | None) -> bool:
    """The Digital Signature DateTime is present, within the certificate's validity and not
    later than a certified timestamp (give or take ``CLOCK_SKEW``)."""
    if when is None:
        c.problems.append(f"Digital Signature DateTime {when_text!r} is missing or invalid")
        return False
    if not (cert.not_valid_before_utc <= when <= cert.not_valid_after_utc):
        c.problems.append("Digital Signature DateTime is outside the certificate's validity")
        return False
    if ts_time is not None and when > ts_time + CLOCK_SKEW:
        c.problems.append("Digital Signature DateTime is later than its certified timestamp")
        return False
    return True


def _trust(c: _Check, cert: x509.Certificate | None, when_text: str | None,
           ts_time: _dt.datetime | None, trust: TrustStore | None, now: _dt.datetime) -> bool:
    """Step 5: the signer's chain to ``trust`` at the signing time (or the certified
    timestamp's), key usage for signing, revocation at the timestamp's time or now."""
    if cert is None:
        return False
    when = parse_dt(when_text)
    time_ok = _signing_time_ok(c, cert, when, when_text, ts_time)
    if trust is None or trust.empty:
        c.problems.append("signer not checked: no trust anchors given")
        return False
    from dicomsec.trust import KeyPurpose

    # validity at the signing time, but revocation at the timestamp's time or now:
    # the signer writes the DateTime, so it cannot move a revocation out of the way
    result = trust.validate(cert, at=ts_time or when or now, purpose=KeyPurpose.SIGNING,
                            revocation_at=ts_time or now)
    c.chain = result
    c.problems.extend(result.problems)
    return result.trusted and time_ok


def _profiles(c: _Check, signed: list[int], scheme: algorithms.Algorithm | None,
              mac_alg: algorithms.Algorithm | None,
              purpose: dict[str, str] | None) -> tuple[str, ...]:
    """Step 6: the signature profiles (PS3.15 C.2-C.5 and ours) a valid signature meets."""
    vflag = text_value(c.parsed, c.fh, c.level.find(VERIFICATION_FLAG))
    sr_doc = is_sr(c.parsed, c.fh)
    pnum = int(purpose["code"]) if purpose and purpose["code"].isdigit() else None
    return tuple(
        prof.value for prof in _PROFILES_REPORTED
        if not profile_problems(
            prof, level_elements=c.level.elements, signed=set(signed), scheme=scheme,
            mac=mac_alg, purpose=pnum, main_level=c.level.parent_item is None,
            verification_flag=vflag, creating=False, sr_document=sr_doc,
        )
    )


def _policy(c: _Check, policy: AlgorithmPolicy, at: _dt.datetime | _dt.date,
            scheme: algorithms.Algorithm | None, cert: x509.Certificate | None,
            mac_alg: algorithms.Algorithm | None) -> SignaturePolicy:
    """Step 7: the algorithm policy's VERIFY decisions on the signature scheme (with the
    signer's public key) and the MAC digest on the day ``at``; a refusal is a problem."""
    from dicomsec.algorithms.policy import Purpose

    key = cert.public_key() if cert is not None and scheme is not None else None
    sig = policy.check(scheme, key, Purpose.VERIFY, at) if scheme is not None else None
    mac = policy.check(mac_alg, None, Purpose.VERIFY, at) if mac_alg is not None else None
    decided = SignaturePolicy(policy.name, _day(at), signature=sig, mac=mac)
    c.problems.extend(decided.problems)
    return decided


def _day(at: _dt.datetime | _dt.date) -> _dt.date:
    if isinstance(at, _dt.datetime):
        return (at.astimezone(_dt.UTC) if at.tzinfo is not None else at).date()
    return at


# --------------------------------------------------------------------------------------------
# one item, one file


def verify_item(
    parsed: ParsedFile, fh: BinaryIO, stream: MacStream, level: DataSet, sig_item: Item,
    *, trust: TrustStore | None, now: _dt.datetime, policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None,
) -> tuple[SignatureReport, set[int]]:
    """Judge one Digital Signatures Sequence item; returns its report and, when it is valid,
    the tags it covers. ``policy`` (default: the default policy) judges its algorithms for
    verification on the day ``at`` (default: ``now``)."""
    from dicomsec.algorithms.policy import AlgorithmPolicy

    c = _Check(parsed, fh, level, sig_item, [])
    mac_id = us_value(parsed, fh, find(sig_item.elements, MAC_ID))
    when_text = c.text(SIGNATURE_DATETIME)
    purpose = _purpose(c)
    mac_alg, signed = _mac_parameters(c, mac_id)
    cert, scheme, value = _signer(c)
    intact, scheme = _integrity(c, stream, mac_alg, signed, cert, value, scheme)
    valid = intact and not c.problems
    ts_report, ts_time = _timestamp(c, value, scheme, trust)
    trusted = _trust(c, cert, when_text, ts_time, trust, now)
    profiles = _profiles(c, signed, scheme, mac_alg, purpose) if valid else ()
    decided = _policy(c, policy or AlgorithmPolicy.default(), at or now, scheme, cert, mac_alg)
    report = SignatureReport(
        uid=c.text(SIGNATURE_UID) or "", location=level.path() or "main", mac_id=mac_id,
        intact=intact, valid=valid, trusted=trusted,
        mac_algorithm=mac_alg.dicom_term if mac_alg else None,
        signature_algorithm=scheme.name if scheme else None,
        signer=cert.subject.rfc4514_string() if cert is not None else None,
        datetime=when_text, profiles=profiles, purpose=purpose, timestamp=ts_report,
        legacy=bool((mac_alg and mac_alg.legacy) or (scheme and scheme.legacy)),
        problems=tuple(c.problems), covered=tuple(tag_str(t) for t in signed),
        interoperable=bool(scheme and scheme.dcmtk_interop and mac_alg and mac_alg.dcmtk_interop),
        policy=decided,
        trust_reasons=c.chain.reasons if c.chain is not None else (),
        revoked_at=c.chain.revoked_at if c.chain is not None else None,
        revocation_reason=c.chain.revocation_reason if c.chain is not None else None,
        trust_warnings=c.chain.soft_fail_warnings if c.chain is not None else (),
        signer_certificate=cert,
    )
    return report, set(signed) if valid else set()


def verify_all(
    parsed: ParsedFile, fh: BinaryIO, *, trust: TrustStore | None, only_uid: str | None = None,
    now: _dt.datetime | None = None, policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None,
) -> tuple[list[SignatureReport], set[int]]:
    """Judge every signature item of a parsed file (or only the one with ``only_uid``);
    returns the reports and the top-level tags the valid main-level signatures cover."""
    stream = MacStream(parsed, fh)
    now = now or _dt.datetime.now(_dt.UTC)
    reports: list[SignatureReport] = []
    covered_main: set[int] = set()
    seen: set[str] = set()
    for level in parsed.levels():
        seq = level.find(DIGITAL_SIGNATURES_SEQUENCE)
        if seq is None or not seq.items:
            continue
        for it in seq.items:
            if only_uid is not None:
                if text_value(parsed, fh, find(it.elements, SIGNATURE_UID)) != only_uid:
                    continue
            report, covered = verify_item(parsed, fh, stream, level, it, trust=trust, now=now,
                                          policy=policy, at=at)
            if report.uid and report.uid in seen:
                report, covered = _duplicate(report), set()
            seen.add(report.uid)
            reports.append(report)
            if level.parent_item is None:
                covered_main |= covered
    return reports, covered_main


def _duplicate(report: SignatureReport) -> SignatureReport:
    """A copy of an earlier signature (same Digital Signature UID, which must be unique): not
    valid, whatever its bytes say; the first copy keeps its own verdict."""
    import dataclasses

    return dataclasses.replace(
        report, valid=False, profiles=(),
        problems=(*report.problems, f"duplicate Digital Signature UID {report.uid} "
                  "(a copy of an earlier signature)"))


def _unsigned_in_items(elements: list[Element], covered: set[int]) -> tuple[str, ...]:
    """Elements inside the items of covered top-level sequences that the MAC stream leaves
    out (group lengths, groups below 0008, padding, UN), as ``"<item path> (gggg,eeee)"``;
    nested signature structures are left out (they are verified as signatures). The first
    ``UNSIGNED_LISTED`` are listed, then one ``"... and N more elements not listed"`` (they can
    be added without breaking a signature: a list of each would grow with the file). The data
    dictionary (pydicom's) is loaded only to name what was found."""
    found: list[tuple[tuple[tuple[int, int], ...], int]] = []
    more = [0]  # found beyond UNSIGNED_LISTED: counted, not listed

    def walk(path: tuple[tuple[int, int], ...], seq: Element) -> None:
        # depth first, holding only the current path (a stack of every nested sequence of a
        # multi-frame file held 28 MB); the depth is bounded by the parser's limit
        for i, item in enumerate(seq.items or ()):
            where = (*path, (seq.tag, i))
            for el in item.elements:  # in tag order (the parser's lists are)
                if el.tag in _SIGNATURE_STRUCTURES:
                    continue
                if not is_signable(el):
                    if len(found) < UNSIGNED_LISTED:
                        found.append((where, el.tag))
                    else:
                        more[0] += 1
                elif el.items is not None:
                    walk(where, el)

    for e in elements:
        if e.tag in covered and e.items is not None and is_signable(e):
            walk((), e)
    if not found:
        return ()
    from pydicom.datadict import keyword_for_tag

    def name(where: tuple[tuple[int, int], ...]) -> str:
        return ".".join(f"{keyword_for_tag(tag) or tag_str(tag)}[{i}]" for tag, i in where)

    listed = sorted(f"{name(where)} {tag_str(tag)}" for where, tag in found)
    if more[0]:
        listed.append(f"... and {more[0]} more elements not listed")
    return tuple(listed)


def _satisfies(report: SignatureReport, require: str) -> bool:
    if not report.ok:
        return False
    if require == "any":
        return True
    if report.location != "main":
        return False
    return require in report.profiles


def verify_file(
    path: Path | str,
    *,
    trust: TrustStore | None = None,
    require: str | None = None,
    now: _dt.datetime | None = None,
    policy: AlgorithmPolicy | None = None,
    at: _dt.datetime | _dt.date | None = None,
    allow_unsigned: bool = True,
    handlers: Iterable[AuditHandler] | None = None,
) -> FileReport:
    """Verify every signature of a Part 10 file, at every level.

    Checks, per signature: MAC parameters, listed attributes present and signable, the MAC
    stream under the signer's key, the Digital Signature DateTime within the certificate's
    validity, the chain to ``trust`` at the signing time (or at a valid certified timestamp's
    time), key usage, and the timestamp's imprint and TSA chain. Signatures inside Original
    Attributes Sequence are skipped and named in ``skipped``. Without ``trust`` no signer is
    trusted (the OS store is never used). Each signature report carries ``policy``'s (default:
    the default policy) VERIFY decisions on its scheme and MAC digest on the day ``at``
    (default: ``now``, else the current time): a refusal makes it not ok, a legacy use (e.g.
    ECDSA P-256 after 2035) is noted and stays ok. ``now`` is when revocation is checked.

    A copy of a signature (a Digital Signature UID already seen in the file) is not valid.
    Every element outside all valid main-level signatures is listed: top-level ones in
    ``unsigned_attributes``, those inside covered items that the MAC stream leaves out in
    ``unsigned_in_items`` (each list: the first ``UNSIGNED_LISTED``, then how many more). A
    file without signatures is ok only with ``allow_unsigned`` (the report's ``verified`` is
    false either way).

    ``handlers`` get one audit event (:mod:`dicomsec.events`): VERIFY with the study and the
    patient when the report is ok; else VERIFY with outcome 4 and the failed checks as Alert
    Description (also for a file that cannot be read).

    Raises:
        InvalidInput: the file cannot be read or is not DICOM.
    """
    from dicomsec.signatures._events import Identity, emit_built, failure_event

    p = Path(path)
    seen: list[Identity] = []
    try:
        report = _verify_file(p, trust=trust, require=require, now=now, policy=policy, at=at,
                              allow_unsigned=allow_unsigned, seen=seen if handlers else None)
    except Exception as exc:  # every failure is audited (an OSError too)
        emit_built(handlers, failure_event, Operation.VERIFY, exc, p)
        raise
    emit_built(handlers, _verify_event, report, p, seen[0] if seen else Identity())
    return report


def _verify_event(report: FileReport, path: Path, ident: Identity) -> AuditEvent:
    """VERIFY: outcome 0 with the study, patient and file; outcome 4 naming the failures."""
    from dicomsec.signatures._events import alert, file_object, identity_objects

    if report.ok:
        return AuditEvent(Operation.VERIFY, objects=(*identity_objects(ident),
                                                     file_object(path)))
    failed = [f"signature {s.uid or '?'} ({s.location}): {'; '.join(s.problems) or 'not ok'}"
              for s in report.signatures if not s.ok]
    if not report.signatures and not report.allow_unsigned:
        failed.append("no signatures found: nothing verified")
    if not report.required_met:
        failed.append(f"no valid, trusted signature satisfies {report.required!r}")
    text = "verification failed: " + " | ".join(failed or ["not ok"])
    return AuditEvent(Operation.VERIFY, Outcome.MINOR_FAILURE, text,
                      (file_object(path, details=alert(text)), *identity_objects(ident)))


def _verify_file(p: Path, *, trust: TrustStore | None, require: str | None,
                 now: _dt.datetime | None, policy: AlgorithmPolicy | None,
                 at: _dt.datetime | _dt.date | None, allow_unsigned: bool,
                 seen: list[Identity] | None) -> FileReport:
    """:func:`verify_file`; the file's identity is appended to ``seen`` (when given)."""
    from dicomsec._atomic import regular_input

    regular_input(p)  # a FIFO or a device would hang or never end
    with open(p, "rb") as fh:
        parsed = parse_file(p, fh)
        if seen is not None:
            from dicomsec.signatures._events import parsed_identity

            seen.append(parsed_identity(parsed, fh))
        reports, covered = verify_all(parsed, fh, trust=trust, now=now, policy=policy, at=at)
        skipped = _skipped(parsed)
    unsigned = _unsigned_top(parsed.dataset.elements, covered)
    met = True
    if require:
        met = any(_satisfies(r, require) for r in reports)
    return FileReport(str(p), tuple(reports), unsigned, skipped, require, met,
                      unsigned_in_items=_unsigned_in_items(parsed.dataset.elements, covered),
                      allow_unsigned=allow_unsigned)


def _unsigned_top(elements: list[Element], covered: set[int]) -> tuple[str, ...]:
    """Top-level elements outside every valid main-level signature, in tag order: the first
    ``UNSIGNED_LISTED``, then ``"... and N more elements not listed"``."""
    listed: list[str] = []
    more = 0
    for e in elements:  # in tag order (the parser's lists are)
        if e.tag in covered or e.tag in _SIGNATURE_STRUCTURES:
            continue
        if len(listed) < UNSIGNED_LISTED:
            listed.append(tag_str(e.tag))
        else:
            more += 1
    if more:
        listed.append(f"... and {more} more elements not listed")
    return tuple(listed)


def _skipped(parsed: ParsedFile) -> tuple[str, ...]:
    """Levels inside Original Attributes Sequence that hold signatures (not verified)."""
    out = []
    for ds in parsed.levels(skip_original_attributes=False):
        if not any(seq.tag == ORIGINAL_ATTRIBUTES for seq, _item in ds.parent_chain):
            continue
        seq = ds.find(DIGITAL_SIGNATURES_SEQUENCE)
        if seq is not None and seq.items:
            out.append(f"{ds.path()}: {len(seq.items)} signature(s) inside Original Attributes")
    return tuple(out)


def verify_dataset_bytes(data: bytes, *, trust: TrustStore | None = None,
                         require: str | None = None, now: _dt.datetime | None = None,
                         policy: AlgorithmPolicy | None = None,
                         at: _dt.datetime | _dt.date | None = None,
                         handlers: Iterable[AuditHandler] | None = None) -> FileReport:
    """Verify a Part 10 file held in memory (used for pydicom Datasets); the report's
    ``file`` is ``"<dataset>"`` (the audit event names no file: only the study and
    patient)."""
    import dataclasses
    import tempfile

    from dicomsec._atomic import unnamed_file
    from dicomsec.signatures._events import without_files

    # a file without a name (it may hold patient data): a kill leaves nothing in $TMPDIR
    with unnamed_file(tempfile.gettempdir(), "dataset.dcm") as tmp:
        tmp.write(data)
        tmp.flush()
        report = verify_file(Path(tmp.name), trust=trust, require=require, now=now,
                             policy=policy, at=at, handlers=without_files(handlers))
    return dataclasses.replace(report, file="<dataset>")


def list_signatures(path: Path | str) -> FileReport:
    """The signatures of a file, checked for integrity but not for trust."""
    return verify_file(path, trust=None)
