"""The outcome of validating one certificate: :class:`ChainResult` and, per certificate of the
path, :class:`RevocationStatus` (private module; the names are re-exported by
:mod:`dicomsec.trust`)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["REASONS", "ChainResult", "RevocationStatus"]

#: why a certificate is not valid (:attr:`ChainResult.reasons`), as reports and policies name it
REASONS = ("expired", "not-yet-valid", "revoked", "wrong-key-usage", "unknown-issuer",
           "revocation-unknown", "bad-signature", "algorithm-not-allowed", "invalid")


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """How the revocation of one certificate of the path was judged.

    ``checked``: revocation information was required for it (the caller gave CRLs or OCSP
    responses: every certificate of the path is checked; else fetching is allowed and it
    names a CRL distribution point or an OCSP URL); ``source``: ``"crl"``, ``"ocsp"``,
    ``"crl+ocsp"`` (what was available) or ``"none"``; ``status``: ``"good"``,
    ``"revoked"``, ``"unknown"`` or ``"not-checked"``.
    """

    subject: str
    checked: bool = False
    source: str = "none"
    status: str = "not-checked"
    revoked_at: _dt.datetime | None = None
    #: RFC 5280 reason name as asn1crypto spells it (``key_compromise``, ``certificate_hold``)
    reason: str | None = None
    #: why the status is unknown (empty otherwise)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "source": self.source, "status": self.status,
                "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The outcome of validating one certificate.

    ``problems`` are sentences for people; ``reasons`` the same failures as codes from
    :data:`REASONS` (one per kind, in order of first appearance); ``revoked_at`` and
    ``revocation_reason`` (an RFC 5280 reason name such as ``key_compromise``) are set when a
    certificate of the path is revoked. ``chain`` runs from the certificate to its anchor;
    ``revocation`` has one entry per certificate of ``chain`` but the anchor, in the same
    order; ``soft_fail_warnings`` the revocation failures that ``soft_fail`` let pass.
    """

    trusted: bool
    problems: tuple[str, ...] = ()
    chain: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    reasons: tuple[str, ...] = ()
    revoked_at: _dt.datetime | None = None
    revocation_reason: str | None = None
    revocation: tuple[RevocationStatus, ...] = ()
    soft_fail_warnings: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.trusted

    @property
    def checked_revocation(self) -> tuple[RevocationStatus, ...]:
        """The revocation status per certificate (alias of ``revocation``)."""
        return self.revocation
