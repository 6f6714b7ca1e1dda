"""The judge: one verdict per instance from its signature report and its attributes.

Rule selection: the rules are tried in file order; the **first** rule whose ``match`` holds
and whose ``from`` has come (instance date on or after it) judges the instance. A rule whose
``from`` is later than the instance date is passed over, so the next matching rule (or
``not-covered``) judges it: a staged roll-out lists the enforce rule (``from = D``) before the
monitor rule without a date.

Instance date: Acquisition Date, else Content Date, else Study Date (the first one present and
valid). An instance without any is judged by the first matching rule, ``from`` or not (the
strict reading: no date cannot prove an instance predates a rule).

Verdict of a signature, the first failing check in this order: ``invalid`` (not intact or
malformed), ``revoked``, ``untrusted`` (no trusted path, or its time not proven),
``algorithm-not-allowed`` (the algorithm policy refuses it for verification, or refused it
for creation on the signing day, or the rule's ``schemes``/``macs`` do not list it),
``unsigned`` (not of the required kind), ``wrong-signer`` (issuer/subject), ``device-mismatch``,
``untrusted`` (the rule wants a certified timestamp and there is no trusted one); else
``compliant``. A file's verdict: ``invalid`` if any signature is invalid (tampered, broken),
else ``revoked`` if any signer (or a certificate of its path) is revoked, whatever the other
signatures say; else that of its signature that passed the most checks (the first one on a
tie): one good signature is enough against others that are untrusted, of the wrong kind, or by
another signer. A file without signatures is ``unsigned``.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.errors import PolicyViolation
from dicomsec.report import Report

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dicomsec.algorithms.policy import AlgorithmPolicy
    from dicomsec.errors import DicomSecError
    from dicomsec.events import AuditHandler
    from dicomsec.policy._model import Rule
    from dicomsec.signatures.report import FileReport, SignatureReport

__all__ = ["DATE_KEYWORDS", "DEVICE_KEYWORDS", "VERDICTS", "Policy", "Verdict", "attributes_of",
           "device_label", "instance_date", "judge", "scheme_label"]

_log = logging.getLogger(__name__)

#: every verdict, from the best to ``not-covered``
VERDICTS = ("compliant", "unsigned", "invalid", "untrusted", "revoked", "wrong-signer",
            "device-mismatch", "algorithm-not-allowed", "not-covered")
#: the instance date, in this order of preference
DATE_KEYWORDS = ("AcquisitionDate", "ContentDate", "StudyDate")
#: the equipment attributes a device certificate is compared with
DEVICE_KEYWORDS = ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "StationName")
#: their tags as signature reports list them
_DEVICE_TAGS = ("(0008,0070)", "(0008,1090)", "(0018,1000)", "(0008,1010)")
#: the most problem lines a verdict carries per signature
_DETAILS = 3

Attrs = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class Verdict(Report):
    """The signing policy's verdict on one instance.

    ``enforced``: an ``enforce`` rule judged it and the verdict is not ``compliant``; ``ok`` is
    its negation (monitor rules report, never fail).
    """

    schema: ClassVar[str] = "dicomsec.policy.verdict/1"

    path: str
    verdict: str
    rule: str | None
    mode: str | None
    enforced: bool
    device: str
    date: _dt.date | None
    details: tuple[str, ...] = ()
    #: signature schemes of the file's signatures (``rsa-pkcs1v15/2048``: with the key size)
    schemes: tuple[str, ...] = ()
    #: MAC digests of the file's signatures (registry names)
    macs: tuple[str, ...] = ()
    signed: bool = False

    @property
    def ok(self) -> bool:
        return not self.enforced

    def summary(self) -> str:
        return (f"{self.verdict.upper()} file={self.path} rule={self.rule!r} "
                f"mode={self.mode or '-'} device={self.device!r}")

    def _content(self) -> dict[str, Any]:
        return {
            "path": self.path, "verdict": self.verdict, "rule": self.rule, "mode": self.mode,
            "enforced": self.enforced, "device": self.device,
            "date": self.date.isoformat() if self.date else None,
            "details": list(self.details), "schemes": list(self.schemes),
            "macs": list(self.macs), "signed": self.signed,
        }

    def _failure(self) -> DicomSecError:
        return PolicyViolation(f"rule {self.rule!r}: {self.verdict}"
                               + (f" ({'; '.join(self.details)})" if self.details else ""),
                               path=self.path)


# ------------------------------------------------------------------------------------------
# the instance


def attributes_of(dataset: Any, keywords: tuple[str, ...]) -> dict[str, str | None]:
    """The text of ``keywords`` in a pydicom Dataset or a mapping keyword → value (``None``:
    absent); multiple values joined with a backslash, as DICOM stores them."""
    out: dict[str, str | None] = {}
    for keyword in keywords:
        if isinstance(dataset, Mapping):
            value = dataset.get(keyword)
        else:
            element = dataset.get(keyword) if keyword in dataset else None
            value = None if element is None else element
        if value is None:
            out[keyword] = None
        elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            out[keyword] = "\\".join(str(v) for v in value)
        else:
            out[keyword] = str(value).strip()
    return out


def instance_date(attrs: Attrs) -> _dt.date | None:
    """Acquisition Date, else Content Date, else Study Date (``YYYYMMDD``); ``None``."""
    for keyword in DATE_KEYWORDS:
        text = (attrs.get(keyword) or "").strip()
        if len(text) >= 8 and text[:8].isdigit():
            try:
                return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                continue
    return None


def device_label(attrs: Attrs) -> str:
    """Manufacturer/Model/Serial (the parts present), else the Station Name, else
    ``"unknown device"``."""
    parts = [(attrs.get(k) or "").strip() for k in DEVICE_KEYWORDS[:3]]
    if any(parts):
        return "/".join(p or "-" for p in parts)
    return (attrs.get("StationName") or "").strip() or "unknown device"


def _matches(rule: Rule, attrs: Attrs) -> bool:
    for keyword, patterns in rule.match:
        value = attrs.get(keyword) or ""
        values = [value, *value.split("\\")] if "\\" in value else [value]
        if not any(fnmatch.fnmatchcase(v, p) for v in values for p in patterns):
            return False
    return True


def _select(rules: tuple[Rule, ...], attrs: Attrs,
            day: _dt.date | None) -> tuple[Rule | None, list[str]]:
    notes: list[str] = []
    for rule in rules:
        if not _matches(rule, attrs):
            continue
        if rule.start is not None and day is not None and day < rule.start:
            notes.append(f"rule {rule.name!r} applies from {rule.start.isoformat()}")
            continue
        if rule.start is not None and day is None:
            notes.append("no instance date: the first matching rule applies")
        return rule, notes
    return None, notes


# ------------------------------------------------------------------------------------------
# a signature against a rule


def _signing_day(s: SignatureReport, day: _dt.date | None) -> _dt.date:
    text = (s.datetime or "").strip()
    if len(text) >= 8 and text[:8].isdigit():
        try:
            return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            pass
    return day or _dt.datetime.now(_dt.UTC).date()


def _algorithms(s: SignatureReport, rule: Rule, policy: AlgorithmPolicy,
                day: _dt.date | None) -> list[str]:
    """Why the signature's algorithms are not allowed (empty: they are)."""
    from dicomsec.algorithms import by_dicom_term, by_name
    from dicomsec.algorithms.policy import Purpose
    from dicomsec.errors import UnsupportedAlgorithm

    if s.policy is not None and not s.policy.ok:
        return list(s.policy.problems)
    out: list[str] = []
    when = _signing_day(s, day)
    key = s.signer_certificate.public_key() if s.signer_certificate is not None else None
    try:
        scheme = by_name(s.signature_algorithm) if s.signature_algorithm else None
        mac = by_dicom_term(s.mac_algorithm) if s.mac_algorithm else None
    except UnsupportedAlgorithm as exc:
        return [exc.message]
    for alg, k, allowed in ((scheme, key, rule.schemes), (mac, None, rule.macs)):
        if alg is None:
            continue
        if allowed and alg.name not in allowed:
            out.append(f"{alg.name} is not among the rule's {', '.join(allowed)}")
            continue
        decision = policy.check(alg, k, Purpose.CREATE, when)
        if not decision.allowed:
            out.append(f"{alg.name} was not allowed for new signatures on {when.isoformat()}"
                       f" ({decision.policy}: {decision.reason})")
    return out


def _signer_problems(s: SignatureReport, rule: Rule) -> list[str]:
    from dicomsec.policy._model import parse_name

    signer = rule.signer
    cert = s.signer_certificate
    if signer is None or cert is None:
        return []
    out = []
    for label, want, have in (("issuer", signer.issuer, cert.issuer),
                              ("subject", signer.subject, cert.subject)):
        if want is None:
            continue
        pattern = parse_name(want)
        if any(c in want for c in "*?["):
            same = all(any(a.oid == p.oid and fnmatch.fnmatchcase(str(a.value), str(p.value))
                           for a in have) for p in pattern)
        else:
            same = pattern == have
        if not same:
            out.append(f"signer {label} {have.rfc4514_string()!r} is not {want!r}")
    return out


def _device_problems(s: SignatureReport, rule: Rule, attrs: Attrs) -> list[str]:
    if rule.signer is None or not rule.signer.device_must_match:
        return []
    from dicomsec.trust.identity import DICOM_KEYWORDS, device_identity

    cert = s.signer_certificate
    identity = device_identity(cert) if cert is not None else None
    if identity is None or identity.is_empty():
        return ["the signer certificate names no device"]
    both = [k for f, k in DICOM_KEYWORDS.items()
            if (getattr(identity, f) or "").strip() and (attrs.get(k) or "").strip()]
    if not both:  # nothing to compare: fail closed
        return ["the image names none of the certificate's device fields ("
                + ", ".join(k for f, k in DICOM_KEYWORDS.items() if getattr(identity, f))
                + ")"]
    wrong = identity.matches(attrs)
    covered = set(s.covered)
    unsigned = [k for k, t in zip(DEVICE_KEYWORDS, _DEVICE_TAGS, strict=True)
                if attrs.get(k) and t not in covered]
    out = [f"{k} {attrs.get(k)!r} is not the certificate's device" for k in wrong]
    if not wrong and unsigned and s.covered:
        out.append(f"device attributes not signed: {', '.join(unsigned)}")
    return out


def _revoked(s: SignatureReport) -> str:
    """Which certificate of the signer's path is revoked, when and why. The validator's
    problem sentence ("certificate SUBJECT revoked on DAY (reason)") names it; the signer
    certificate when it is that one or when no sentence names one."""
    when = s.revoked_at.isoformat() if s.revoked_at else "unknown date"
    why = f" ({s.revocation_reason})" if s.revocation_reason else ""
    which = "signer certificate"
    signer = s.signer_certificate.subject.rfc4514_string() if s.signer_certificate else None
    for problem in s.problems:
        if problem.startswith("certificate ") and " revoked" in problem:
            subject = problem[len("certificate "):problem.rindex(" revoked")]
            if subject != signer:
                which = f"certificate {subject!r} of the signer's path"
            break
    return f"{which} revoked at {when}{why}"


def _signature_verdict(s: SignatureReport, rule: Rule, attrs: Attrs, policy: AlgorithmPolicy,
                       day: _dt.date | None) -> tuple[int, str, list[str]]:
    """(how many checks passed, verdict, details) of one signature."""
    if not s.valid:
        return 0, "invalid", list(s.problems[:_DETAILS]) or ["signature invalid"]
    if "revoked" in s.trust_reasons or s.revoked_at is not None:
        return 1, "revoked", [_revoked(s)]
    if not s.trusted:
        reasons = ", ".join(s.trust_reasons) or "not trusted"
        return 2, "untrusted", [reasons, *s.problems[:_DETAILS]]
    bad = _algorithms(s, rule, policy, day)
    if bad:
        return 3, "algorithm-not-allowed", bad[:_DETAILS]
    if rule.require != "any" and (s.location != "main" or rule.require not in s.profiles):
        return 4, "unsigned", [f"no {rule.require} signature (profiles of "
                               f"{s.location}: {', '.join(s.profiles) or 'none'})"]
    wrong = _signer_problems(s, rule)
    if wrong:
        return 5, "wrong-signer", wrong
    mismatch = _device_problems(s, rule, attrs)
    if mismatch:
        return 6, "device-mismatch", mismatch
    if rule.timestamp and (s.timestamp is None or not s.timestamp.ok):
        return 7, "untrusted", ["the rule requires a trusted certified timestamp"]
    return 8, "compliant", []


def scheme_label(s: SignatureReport) -> str | None:
    """The scheme with the RSA key size (``rsa-pkcs1v15/2048``), else the scheme's name."""
    if s.signature_algorithm is None:
        return None
    if s.signature_algorithm.startswith("rsa") and s.signer_certificate is not None:
        from dicomsec.algorithms import key_bits

        bits = key_bits(s.signer_certificate.public_key())
        if bits:
            return f"{s.signature_algorithm}/{bits}"
    return s.signature_algorithm


def _mac_name(term: str | None) -> str | None:
    from dicomsec.algorithms import by_dicom_term
    from dicomsec.errors import UnsupportedAlgorithm

    if term is None:
        return None
    try:
        return by_dicom_term(term).name
    except UnsupportedAlgorithm:
        return term


def _file_verdict(results: list[tuple[int, str, list[str]]]) -> tuple[str, list[str]]:
    """A file's verdict from its signatures' ones: an ``invalid`` signature (broken,
    tampered), then a ``revoked`` signer, decides the file whatever the others say; otherwise
    the signature that passed the most checks (the first on a tie): one good signature is
    enough against others that are untrusted, of the wrong kind or by another signer."""
    for decisive in ("invalid", "revoked"):
        found = next((r for r in results if r[1] == decisive), None)
        if found is not None:
            return found[1], found[2]
    best = max(results, key=lambda r: r[0])
    return best[1], best[2]


def judge(rules: tuple[Rule, ...], policy: AlgorithmPolicy, report: FileReport,
          attrs: Attrs, path: str | None = None) -> Verdict:
    """The verdict on one instance (see the module's docstring for the order of checks)."""
    day = instance_date(attrs)
    rule, notes = _select(rules, attrs, day)
    sigs = report.signatures
    schemes = tuple(dict.fromkeys(x for x in map(scheme_label, sigs) if x))
    macs = tuple(dict.fromkeys(x for x in (_mac_name(s.mac_algorithm) for s in sigs) if x))
    common = {"path": path or report.file, "device": device_label(attrs), "date": day,
              "schemes": schemes, "macs": macs, "signed": bool(sigs)}
    if rule is None:
        return Verdict(verdict="not-covered", rule=None, mode=None, enforced=False,
                       details=tuple(notes or ["no rule matches"]), **common)  # type: ignore[arg-type]
    if not sigs:
        verdict, details = "unsigned", ["no signature"]
    else:
        verdict, details = _file_verdict(
            [_signature_verdict(s, rule, attrs, policy, day) for s in sigs])
    return Verdict(verdict=verdict, rule=rule.name, mode=rule.mode,
                   enforced=rule.enforced and verdict != "compliant",
                   details=tuple(notes + details), **common)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# the policy object


@dataclass(frozen=True, slots=True)
class Policy:
    """A signing policy: ordered rules and the algorithm policy they judge algorithms with.

    Immutable and picklable (worker processes get a copy). Build it with
    :func:`dicomsec.policy.load`.
    """

    rules: tuple[Rule, ...]
    #: the ``[algorithms]`` overrides of the file (``None``: the default algorithm policy)
    algorithm_policy: AlgorithmPolicy | None = None
    #: where it was read from (for reports)
    source: str | None = None

    @property
    def keywords(self) -> tuple[str, ...]:
        """Every attribute keyword the rules read (match, date, device)."""
        wanted = [k for rule in self.rules for k, _ in rule.match]
        return tuple(dict.fromkeys([*wanted, *DATE_KEYWORDS, *DEVICE_KEYWORDS]))

    def effective_algorithm_policy(self) -> AlgorithmPolicy:
        from dicomsec.algorithms.policy import AlgorithmPolicy

        return self.algorithm_policy or AlgorithmPolicy.default()

    def evaluate(self, report: FileReport, dataset: Any, *, path: str | None = None,
                 handlers: Iterable[AuditHandler] | None = None) -> Verdict:
        """The verdict on one instance: ``report`` from :func:`dicomsec.signatures.verify`
        (with the trust store the caller chose), ``dataset`` a pydicom Dataset or a mapping
        DICOM keyword → value of the same instance. A verdict that violates a rule is a
        POLICY_VIOLATION event for ``handlers`` (:func:`dicomsec.policy.violation_event`)."""
        attrs = attributes_of(dataset, self.keywords)
        verdict = judge(self.rules, self.effective_algorithm_policy(), report, attrs, path)
        if handlers:
            from dicomsec.events import emit
            from dicomsec.policy._audit import violation_event

            try:  # auditing never changes the verdict
                event = violation_event(verdict)
            except Exception as exc:
                _log.warning("policy violation event not built: %s: %s",
                             type(exc).__name__, exc)
                event = None
            if event is not None:
                emit(handlers, event)
        return verdict

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rules": [r.to_dict() for r in self.rules],
                "algorithm_policy": (self.algorithm_policy.name
                                     if self.algorithm_policy is not None else None)}
