"""What reading an inner SignedData / DigestedData found: :class:`InnerReport` and one
:class:`SignerReport` per SignerInfo."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

__all__ = ["InnerReport", "SignerReport"]


@dataclass(frozen=True)
class SignerReport:
    """The outcome of checking one SignerInfo."""

    signer: str
    algorithm: str
    digest: str
    valid: bool
    trusted: bool
    problems: tuple[str, ...] = ()
    signing_time: _dt.datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "signer": self.signer,
            "algorithm": self.algorithm,
            "digest": self.digest,
            "valid": self.valid,
            "trusted": self.trusted,
            "signing_time": (
                self.signing_time.isoformat() if self.signing_time is not None else None
            ),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class InnerReport:
    """What :func:`extract_inner` found and checked.

    ``kind``: ``"data"``, ``"signed"`` or ``"digested"``; ``form``: ``"strict"``,
    ``"openssl-pipeline"`` or ``"plain"``. ``trust_checked``: a trust store was given, so every
    signer must also be trusted for :attr:`ok`. ``problems``: findings about the structure
    (e.g. an eContentType other than id-data) that make the content unacceptable.
    """

    kind: str
    form: str
    digest: str | None = None
    digest_ok: bool | None = None
    signers: tuple[SignerReport, ...] = ()
    trust_checked: bool = False
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        if self.problems:
            return False
        if self.kind == "digested":
            return self.digest_ok is True
        if self.kind == "signed":
            return bool(self.signers) and all(
                s.valid and (s.trusted or not self.trust_checked) for s in self.signers
            )
        return True  # plain data: nothing to check (integrity must come from elsewhere)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "form": self.form,
            "ok": self.ok,
            "digest": self.digest,
            "digest_ok": self.digest_ok,
            "trust_checked": self.trust_checked,
            "signers": [s.to_dict() for s in self.signers],
            "problems": list(self.problems),
        }

