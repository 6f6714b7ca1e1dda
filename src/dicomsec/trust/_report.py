"""The report of ``dicomsec trust validate``: :class:`ValidationReport` (schema
``dicomsec.trust.validation/1``), built from a :class:`~dicomsec.trust.ChainResult`."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dicomsec.report import Report
from dicomsec.trust._result import ChainResult, RevocationStatus

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["ChainEntry", "ValidationReport"]


def _iso(moment: _dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One certificate of the path built (leaf first), with how its revocation was judged."""

    subject: str
    issuer: str
    serial: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    revocation: RevocationStatus | None = None  # None: the trust anchor

    @classmethod
    def of(cls, cert: x509.Certificate, revocation: RevocationStatus | None) -> ChainEntry:
        return cls(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                   format(cert.serial_number, "x"), cert.not_valid_before_utc,
                   cert.not_valid_after_utc, revocation)

    def to_dict(self) -> dict[str, Any]:
        revocation = (self.revocation.to_dict() if self.revocation is not None else
                      {"checked": False, "source": "anchor", "status": "trust-anchor",
                       "revoked_at": None, "reason": None})
        return {"subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "not_before": _iso(self.not_before), "not_after": _iso(self.not_after),
                "revocation": revocation}


@dataclass(frozen=True, slots=True)
class ValidationReport(Report):
    """Whether one certificate is valid for a purpose at a moment, the path built and every
    reason (``ok`` is ``valid``)."""

    schema: ClassVar[str] = "dicomsec.trust.validation/1"

    subject: str
    valid: bool
    at: _dt.datetime
    purpose: str
    reasons: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    chain: tuple[ChainEntry, ...] = field(default=())
    warnings: tuple[str, ...] = ()
    revoked_at: _dt.datetime | None = None
    revocation_reason: str | None = None

    @classmethod
    def from_result(cls, cert: x509.Certificate, result: ChainResult, *, at: _dt.datetime,
                    purpose: str) -> ValidationReport:
        """The report of ``result``; without a path (nothing built) the chain is the
        certificate alone."""
        certs = result.chain or (cert,)
        statuses = list(result.revocation)
        entries = tuple(ChainEntry.of(c, statuses[i] if i < len(statuses) else
                                      (RevocationStatus(c.subject.rfc4514_string())
                                       if not result.chain else None))
                        for i, c in enumerate(certs))
        return cls(cert.subject.rfc4514_string(), result.trusted, at, purpose,
                   result.reasons, result.problems, entries, result.soft_fail_warnings,
                   result.revoked_at, result.revocation_reason)

    @property
    def ok(self) -> bool:
        return self.valid

    def summary(self) -> str:
        verdict = "valid" if self.valid else "not-valid"
        reasons = ",".join(self.reasons) or "-"
        return (f"{verdict} subject={self.subject!r} purpose={self.purpose} "
                f"at={self.at:%Y-%m-%dT%H:%M:%SZ} reasons={reasons} chain={len(self.chain)}")

    def _content(self) -> dict[str, Any]:
        return {"valid": self.valid, "subject": self.subject, "at": _iso(self.at),
                "purpose": self.purpose, "reasons": list(self.reasons),
                "problems": list(self.problems), "warnings": list(self.warnings),
                "revoked_at": _iso(self.revoked_at), "revocation_reason": self.revocation_reason,
                "chain": [e.to_dict() for e in self.chain]}
