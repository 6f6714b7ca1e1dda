"""Verification results: one frozen report per signature, one per file.

Expected negative outcomes (a broken signature, an untrusted signer) are report fields, not
exceptions. ``ok`` is the one verdict; ``raise_for_failure()`` is there for callers who prefer an
exception, so that "intact but untrusted" cannot be mistaken for success.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dicomsec.errors import TrustError, VerificationFailed

__all__ = ["SCHEMA", "FileReport", "SignatureReport"]

SCHEMA = "dicomsec.signatures.report/1"


@dataclass(frozen=True, slots=True)
class SignatureReport:
    """The outcome of verifying one Digital Signatures Sequence item."""

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
    timestamp: dict[str, Any] | None
    legacy: bool
    problems: tuple[str, ...]
    covered: tuple[str, ...] = field(default=(), repr=False)
    interoperable: bool = True

    @property
    def ok(self) -> bool:
        return self.valid and self.trusted and not self.problems

    def summary(self) -> str:
        verdict = "OK" if self.ok else ("UNTRUSTED" if self.valid else "INVALID")
        return f"{verdict} {self.location} uid={self.uid}"

    def to_dict(self) -> dict[str, Any]:
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
            "timestamp": self.timestamp,
            "legacy": self.legacy,
            "interoperable": self.interoperable,
            "problems": list(self.problems),
            "covered": list(self.covered),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def raise_for_failure(self) -> None:
        if not self.valid:
            raise VerificationFailed("; ".join(self.problems) or "signature invalid",
                                     item=self.location, tag=self.uid)
        if not self.ok:
            raise TrustError("; ".join(self.problems) or "signer not trusted",
                             item=self.location, tag=self.uid)


@dataclass(frozen=True, slots=True)
class FileReport:
    """Every signature of one file, and the top-level attributes no valid signature covers."""

    file: str
    signatures: tuple[SignatureReport, ...]
    unsigned_attributes: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    required: str | None = None
    required_met: bool = True

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.signatures) and self.required_met

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "file": self.file,
            "ok": self.ok,
            "signatures": [s.to_dict() for s in self.signatures],
            "unsigned_attributes": list(self.unsigned_attributes),
            "skipped": list(self.skipped),
            "required": self.required,
            "required_met": self.required_met,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def raise_for_failure(self) -> None:
        for s in self.signatures:
            s.raise_for_failure()
        if not self.required_met:
            raise VerificationFailed(f"no valid, trusted signature satisfies {self.required!r}",
                                     path=self.file)
