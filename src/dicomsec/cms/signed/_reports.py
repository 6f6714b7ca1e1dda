"""What reading an inner SignedData / DigestedData found: an :class:`InnerContentReport` and
one :class:`InnerSigner` per SignerInfo.

The one definition of the inner-content report: :mod:`dicomsec.securefile` re-exports it as the
typed report of :attr:`~dicomsec.securefile.UnwrapReport.inner` (hence its schema name, the
name users meet it under). ``InnerReport`` and ``SignerReport`` are the names the cms package
used before.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from dicomsec.errors import DicomSecError, TrustError, VerificationFailed
from dicomsec.report import Report

__all__ = ["InnerContentReport", "InnerKind", "InnerReport", "InnerSigner", "SignerReport"]

#: what the inner content check found: plain data, SignedData or DigestedData
InnerKind = Literal["data", "signed", "digested"]


@dataclass(frozen=True, slots=True)
class InnerSigner:
    """One SignerInfo of the inner SignedData, as checked while the content was extracted.

    ``valid``: the signature verifies over the signed attributes, whose message digest matches
    the content. ``trusted``: the certificate chains to the trust store given to unwrap (always
    ``False`` when none was given).
    """

    signer: str
    algorithm: str
    digest: str
    valid: bool
    trusted: bool
    problems: tuple[str, ...] = ()
    signing_time: _dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
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


@dataclass(frozen=True, slots=True)
class InnerContentReport(Report):
    """The check of the content inside the envelope (PS3.15 D.1: SignedData or DigestedData).

    ``kind``: ``"data"`` (nothing inside to check: integrity comes from the AES-GCM tag, or from
    nowhere for CBC), ``"signed"`` or ``"digested"``. ``form``: ``"strict"`` (the Basic
    profile's nesting), ``"openssl-pipeline"`` (id-data holding a ContentInfo) or ``"plain"``.
    ``trust_checked``: a trust store was given, so every signer must also be trusted.
    ``problems``: structural findings that make the content unacceptable.
    """

    schema: ClassVar[str] = "dicomsec.securefile.inner/1"

    kind: InnerKind
    form: str
    digest: str | None = None
    digest_ok: bool | None = None
    signers: tuple[InnerSigner, ...] = ()
    trust_checked: bool = False
    problems: tuple[str, ...] = ()

    @classmethod
    def plain(cls) -> InnerContentReport:
        """The report of a plain DICOM File inside the envelope (nothing to check)."""
        return cls(kind="data", form="plain")

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

    def summary(self) -> str:
        verdict = "OK" if self.ok else ("UNTRUSTED" if self._intact() else "INVALID")
        return (f"{verdict} kind={self.kind} form={self.form} signers={len(self.signers)} "
                f"trust_checked={str(self.trust_checked).lower()}")

    def _intact(self) -> bool:
        """Everything verifies; only trust may be missing."""
        if self.problems or self.kind == "digested":
            return False
        return self.kind != "signed" or (bool(self.signers)
                                          and all(s.valid for s in self.signers))

    def _content(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "form": self.form,
            "digest": self.digest,
            "digest_ok": self.digest_ok,
            "trust_checked": self.trust_checked,
            "signers": [s.to_dict() for s in self.signers],
            "problems": list(self.problems),
        }

    def _failure(self) -> DicomSecError:
        """:class:`VerificationFailed` when a digest, signature or structure fails,
        :class:`TrustError` when everything verifies but a signer is not trusted."""
        problems = [*self.problems, *(p for s in self.signers for p in s.problems)]
        if not self._intact():
            detail = "; ".join(problems) or "digest does not match the content"
            return VerificationFailed(f"inner {self.kind} content does not verify: {detail}")
        return TrustError("inner signer not trusted: " + ("; ".join(problems) or "untrusted"))


#: the names the cms package used before
InnerReport = InnerContentReport
SignerReport = InnerSigner
