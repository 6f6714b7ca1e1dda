"""Signature results: frozen reports following :class:`dicomsec.report.Report`.

- :class:`SignatureReport`: one Digital Signatures Sequence item, verified;
- :class:`FileReport`: every signature of one file, and the attributes none covers;
- :class:`TimestampReport`: one certified timestamp (RFC 3161) of a signature;
- :class:`SignaturePolicy`: the algorithm policy's VERIFY decisions on one signature;
- :class:`SignResult`: what signing a file did.

Expected negative outcomes (a broken signature, an untrusted signer) are report fields, not
exceptions. ``ok`` is the one verdict; ``raise_for_failure()`` is there for callers who prefer an
exception, so that "intact but untrusted" cannot be mistaken for success. Every ``to_dict()``
starts with ``schema`` and ``ok``; the other keys are those the reports had before the shared
protocol (none renamed), listed in ``docs/signatures.md``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.errors import DicomSecError, PolicyViolation, TrustError, VerificationFailed
from dicomsec.report import Report

if TYPE_CHECKING:
    from cryptography import x509

    from dicomsec.algorithms.policy import Decision

__all__ = ["SCHEMA", "FileReport", "SignResult", "SignaturePolicy", "SignatureReport",
           "TimestampReport"]

#: the schema of :class:`FileReport` (the one ``verify --json`` prints per file)
SCHEMA = "dicomsec.signatures.report/1"


@dataclass(frozen=True, slots=True)
class TimestampReport(Report):
    """The outcome of checking one Certified Timestamp (0400,0310).

    ``valid``: the token parses, its imprint is a digest of the signature value and its CMS
    signature verifies with the TSA certificate inside it. ``trusted``: that certificate has a
    path to a trust anchor at the timestamp's time, with extended key usage timeStamping.
    """

    schema: ClassVar[str] = "dicomsec.signatures.timestamp/1"

    present: bool
    valid: bool = False
    trusted: bool = False
    time: _dt.datetime | None = None
    tsa: str | None = None
    hash_algorithm: str | None = None
    problems: tuple[str, ...] = ()
    signer_certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)

    @classmethod
    def absent(cls) -> TimestampReport:
        """The status of a signature without a Certified Timestamp."""
        return cls(present=False)

    @property
    def ok(self) -> bool:
        return self.present and self.valid and self.trusted

    def summary(self) -> str:
        if not self.present:
            verdict = "ABSENT"
        else:
            verdict = "OK" if self.ok else ("UNTRUSTED" if self.valid else "INVALID")
        when = self.time.isoformat() if self.time is not None else "-"
        return f"{verdict} time={when} tsa={self.tsa or '-'}"

    def _content(self) -> dict[str, Any]:
        """JSON-ready fields (the certificate is left out; time is ISO 8601)."""
        return {
            "present": self.present,
            "valid": self.valid,
            "trusted": self.trusted,
            "time": self.time.isoformat() if self.time is not None else None,
            "tsa": self.tsa,
            "hash_algorithm": self.hash_algorithm,
            "problems": list(self.problems),
        }


@dataclass(frozen=True, slots=True)
class SignaturePolicy(Report):
    """The algorithm policy's VERIFY decisions on one signature, on the verification day.

    ``signature``: the signature scheme with the signer's public key; ``mac``: the MAC
    digest. Either is ``None`` when the signature does not name it readably (a problem of the
    signature report says why). ``ok`` (``allowed`` in JSON) is true when every decision
    allows: a refused one (a ``forbidden`` status, a site rule for verification) makes the
    signature report not ok, with a problem naming the policy. A decision that allows but is
    ``legacy`` (e.g. ECDSA P-256 verified in 2036: quantum-vulnerable, disallowed for new
    signatures since 2035) leaves the report ok; its ``reason`` says so.
    """

    schema: ClassVar[str] = "dicomsec.signatures.policy/1"

    #: the policy that decided ("default policy", "policy file site.toml", ...)
    name: str
    #: the UTC day judged
    at: _dt.date
    signature: Decision | None = None
    mac: Decision | None = None

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(d for d in (self.signature, self.mac) if d is not None)

    @property
    def ok(self) -> bool:
        return all(d.allowed for d in self.decisions)

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per refusal, naming the policy: ``"<policy>: <reason>"``."""
        return tuple(f"{d.policy}: {d.reason}" for d in self.decisions if not d.allowed)

    def summary(self) -> str:
        verdict = "ALLOWED" if self.ok else "REFUSED"
        return f"{verdict} policy={self.name!r} at={self.at.isoformat()} " + " ".join(
            f"{d.algorithm}={'allowed' if d.allowed else 'refused'}"
            + (",legacy" if d.legacy else "") for d in self.decisions)

    def _content(self) -> dict[str, Any]:
        return {
            "allowed": self.ok,
            "policy": self.name,
            "at": self.at.isoformat(),
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "mac": self.mac.to_dict() if self.mac is not None else None,
        }

    def _failure(self) -> DicomSecError:
        return PolicyViolation("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class SignatureReport(Report):
    """The outcome of verifying one Digital Signatures Sequence item."""

    schema: ClassVar[str] = "dicomsec.signatures.signature/1"

    uid: str
    location: str  # "main" or an item path such as "ContentSequence[1]"
    mac_id: int | None
    #: the MAC stream rebuilt from the data verifies under the signer's key
    intact: bool
    #: intact, and the signature's structure is sound (MAC parameters, listed tags present)
    valid: bool
    #: the signer certificate chains to a trust anchor and fits the signing time and usage
    trusted: bool
    mac_algorithm: str | None
    signature_algorithm: str | None
    signer: str | None
    datetime: str | None
    profiles: tuple[str, ...]
    purpose: dict[str, str] | None
    timestamp: TimestampReport | None
    legacy: bool
    problems: tuple[str, ...]
    covered: tuple[str, ...] = field(default=(), repr=False)
    interoperable: bool = True
    #: the algorithm policy's VERIFY decisions on this signature's algorithms (``None``: not
    #: consulted, e.g. a report built by hand)
    policy: SignaturePolicy | None = None
    #: why the signer is not trusted, as :data:`dicomsec.trust.REASONS` codes
    trust_reasons: tuple[str, ...] = ()
    #: when and why a certificate of the signer's path was revoked (``None``: not revoked)
    revoked_at: _dt.datetime | None = None
    revocation_reason: str | None = None
    #: revocation failures that soft-fail let pass (one sentence each; empty otherwise)
    trust_warnings: tuple[str, ...] = ()
    #: the signer's certificate as the signature carries it (not in :meth:`to_dict`)
    signer_certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.valid and self.trusted and not self.problems

    def summary(self) -> str:
        verdict = "OK" if self.ok else ("UNTRUSTED" if self.valid else "INVALID")
        return f"{verdict} location={self.location} uid={self.uid}"

    def _content(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "location": self.location,
            "mac_id": self.mac_id,
            "valid": self.valid,
            "intact": self.intact,
            "trusted": self.trusted,
            "mac_algorithm": self.mac_algorithm,
            "signature_algorithm": self.signature_algorithm,
            "signer": self.signer,
            "datetime": self.datetime,
            "profiles": list(self.profiles),
            "purpose": self.purpose,
            "timestamp": self.timestamp.to_dict() if self.timestamp is not None else None,
            "legacy": self.legacy,
            "interoperable": self.interoperable,
            "problems": list(self.problems),
            "covered": list(self.covered),
            "policy": self.policy.to_dict() if self.policy is not None else None,
            "trust_reasons": list(self.trust_reasons),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "trust_warnings": list(self.trust_warnings),
        }

    def _failure(self) -> DicomSecError:
        """:class:`VerificationFailed` for an invalid signature, :class:`PolicyViolation` for
        a valid one whose algorithms the policy refuses for verification, :class:`TrustError`
        for an intact one whose signer is not trusted."""
        if not self.valid:
            return VerificationFailed("; ".join(self.problems) or "signature invalid",
                                      item=self.location, tag=self.uid)
        if self.policy is not None and not self.policy.ok:
            return PolicyViolation("; ".join(self.policy.problems), item=self.location,
                                   tag=self.uid)
        return TrustError("; ".join(self.problems) or "signer not trusted",
                          item=self.location, tag=self.uid)


@dataclass(frozen=True, slots=True)
class FileReport(Report):
    """Every signature of one file, and the elements no valid signature covers.

    ``unsigned_attributes``: top-level elements no valid main-level signature covers (any
    group, group lengths and Data Set Trailing Padding included; only the signature
    structures themselves, MAC Parameters and Digital Signatures Sequences, are left out).
    ``unsigned_in_items``: elements inside the items of covered sequences that the MAC stream
    leaves out (group lengths, groups below 0008, padding, UN), as ``"<item path> (gggg,eeee)"``.
    ``verified`` (JSON only): at least one signature was found and checked; a file without
    signatures is ``ok`` unless ``allow_unsigned`` is false or a ``required`` kind is missing.
    """

    schema: ClassVar[str] = SCHEMA

    file: str
    signatures: tuple[SignatureReport, ...]
    unsigned_attributes: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    required: str | None = None
    required_met: bool = True
    unsigned_in_items: tuple[str, ...] = ()
    #: whether a file without any signature is ok (nothing to fail, but nothing verified)
    allow_unsigned: bool = True

    @property
    def verified(self) -> bool:
        """At least one signature was found and checked (valid or not)."""
        return bool(self.signatures)

    @property
    def ok(self) -> bool:
        return (all(s.ok for s in self.signatures) and self.required_met
                and (self.verified or self.allow_unsigned))

    def summary(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        bad = sum(not s.ok for s in self.signatures)
        return (f"{verdict} file={self.file} signatures={len(self.signatures)} failed={bad} "
                f"required_met={str(self.required_met).lower()}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "signatures": [s.to_dict() for s in self.signatures],
            "unsigned_attributes": list(self.unsigned_attributes),
            "skipped": list(self.skipped),
            "required": self.required,
            "required_met": self.required_met,
            "verified": self.verified,
            "unsigned_in_items": list(self.unsigned_in_items),
        }

    def _failure(self) -> DicomSecError:
        """The first failed signature's exception, else :class:`VerificationFailed` for an
        unmet requirement or a file without signatures where none was allowed."""
        for s in self.signatures:
            if not s.ok:
                return s._failure()
        if not self.verified and not self.allow_unsigned and self.required_met:
            return VerificationFailed("no signatures found: nothing verified", path=self.file)
        return VerificationFailed(f"no valid, trusted signature satisfies {self.required!r}",
                                  path=self.file)


@dataclass(frozen=True, slots=True)
class SignResult(Report):
    """What signing did: where the new signature is and what it covers.

    It exists only for a signature that was made and checked (signing raises otherwise), so
    ``ok`` is always true. ``to_dict()`` has the keys ``sign --json`` prints.
    """

    schema: ClassVar[str] = "dicomsec.signatures.sign/1"

    path: str
    uid: str
    location: str
    mac_id: int
    mac_algorithm: str
    signature_algorithm: str
    signed_tags: tuple[str, ...]
    profile: str
    timestamp: bool

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        return (f"OK file={self.path} location={self.location} uid={self.uid} "
                f"algorithm={self.signature_algorithm} mac={self.mac_algorithm}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "uid": self.uid,
            "location": self.location,
            "mac_id": self.mac_id,
            "mac_algorithm": self.mac_algorithm,
            "signature_algorithm": self.signature_algorithm,
            "profile": self.profile,
            "timestamp": self.timestamp,
            "signed_attributes": list(self.signed_tags),
        }
