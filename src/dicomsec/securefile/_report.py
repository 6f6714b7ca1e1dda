"""The reports of Secure DICOM File operations: wrap, unwrap (with its inner-content check) and
inspect. Each follows :class:`dicomsec.report.Report`; ``to_dict()`` keeps every key the
command line tool printed before the protocol (``schema`` and ``ok`` were added)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, cast

from dicomsec.cms import (
    ID_AUTH_ENVELOPED_DATA,
    ID_DATA,
    ID_DIGESTED_DATA,
    ID_ENVELOPED_DATA,
    ID_SIGNED_DATA,
)
from dicomsec.errors import DicomSecError, TrustError, VerificationFailed
from dicomsec.report import Report

if TYPE_CHECKING:
    from dicomsec.algorithms.policy import Decision
    from dicomsec.cms.signed import InnerReport, SignerReport

__all__ = [
    "InnerContentReport",
    "InnerKind",
    "InnerSigner",
    "SecureFileInfo",
    "UnwrapReport",
    "WrapReport",
    "content_name",
]

#: what the inner content check found: plain data, SignedData or DigestedData
InnerKind = Literal["data", "signed", "digested"]
_INNER_KINDS = ("data", "signed", "digested")

_CONTENT_NAMES = {
    ID_DATA: "data",
    ID_SIGNED_DATA: "signed-data",
    ID_DIGESTED_DATA: "digested-data",
    ID_ENVELOPED_DATA: "enveloped-data",
    ID_AUTH_ENVELOPED_DATA: "auth-enveloped-data",
}


def content_name(oid: str) -> str:
    """The short name of a CMS content type (``"signed-data"``), or the OID when unknown."""
    return _CONTENT_NAMES.get(oid, oid)


@dataclass(frozen=True, slots=True)
class WrapReport(Report):
    """What :func:`~dicomsec.securefile.wrap` wrote.

    It exists only for a file that was written (wrapping raises otherwise), so ``ok`` is
    always true. ``inner`` is ``"data"``, ``"signed-data"`` or ``"digested-data"``; ``digest``
    is the inner digest algorithm (``None`` for data).
    """

    schema: ClassVar[str] = "dicomsec.securefile.wrap/1"

    path: str
    profile: str
    outer: str
    cipher: str
    recipients: tuple[str, ...]
    inner: str
    digest: str | None
    signers: int

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        return (f"WRAPPED file={self.path} profile={self.profile} outer={self.outer} "
                f"cipher={self.cipher} recipients={','.join(self.recipients)} "
                f"inner={self.inner}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path, "profile": self.profile, "outer": self.outer,
            "cipher": self.cipher, "recipients": list(self.recipients), "inner": self.inner,
            "digest": self.digest, "signers": self.signers,
        }


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

    @classmethod
    def from_cms(cls, report: SignerReport) -> InnerSigner:
        """Low-level: the typed record of a :class:`dicomsec.cms.signed.SignerReport`."""
        return cls(signer=report.signer, algorithm=report.algorithm, digest=report.digest,
                   valid=report.valid, trusted=report.trusted,
                   problems=tuple(report.problems), signing_time=report.signing_time)

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

    @classmethod
    def from_cms(cls, report: InnerReport) -> InnerContentReport:
        """Low-level: the typed report of a :class:`dicomsec.cms.signed.InnerReport`."""
        if report.kind not in _INNER_KINDS:
            raise ValueError(f"unknown inner content kind {report.kind!r}")
        return cls(kind=cast(InnerKind, report.kind), form=report.form, digest=report.digest,
                   digest_ok=report.digest_ok,
                   signers=tuple(InnerSigner.from_cms(s) for s in report.signers),
                   trust_checked=report.trust_checked, problems=tuple(report.problems))

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


@dataclass(frozen=True, slots=True)
class UnwrapReport(Report):
    """What :func:`~dicomsec.securefile.unwrap` found and checked.

    Unwrapping raises when a check fails, so a report exists only for released content and
    ``ok`` is true. ``integrity`` says what proves the content unmodified: ``"aead"`` (the
    AES-GCM tag), ``"signed"`` / ``"digested"`` (the inner check of a CBC file) or ``"none"``
    (CBC with plain content, accepted only with ``allow_unauthenticated``). ``is_dicom``:
    the recovered content is a DICOM Part 10 file. ``legacy``: the content cipher is legacy
    (3DES). ``policy``: the algorithm policy's DECRYPT decision on the content cipher (always
    allowing here: a refusal raises before anything is decrypted; ``None`` for a report built
    by hand).
    """

    schema: ClassVar[str] = "dicomsec.securefile.unwrap/1"

    path: str
    outer: str
    cipher: str
    recipient_index: int
    recipient_kind: str
    content_type: str
    form: str
    integrity: Literal["aead", "signed", "digested", "none"]
    inner: InnerContentReport = field(default_factory=InnerContentReport.plain)
    is_dicom: bool = True
    legacy: bool = False
    policy: Decision | None = None

    @property
    def ok(self) -> bool:
        return self.inner.ok

    def summary(self) -> str:
        verdict = "UNWRAPPED" if self.ok else "FAILED"
        return (f"{verdict} file={self.path} outer={self.outer} cipher={self.cipher} "
                f"recipient={self.recipient_index}:{self.recipient_kind} "
                f"integrity={self.integrity} is_dicom={str(self.is_dicom).lower()}")

    def _content(self) -> dict[str, Any]:
        return {
            "file": self.path, "outer": self.outer, "cipher": self.cipher,
            "recipient": {"index": self.recipient_index, "kind": self.recipient_kind},
            "content_type": self.content_type, "form": self.form, "integrity": self.integrity,
            "inner": self.inner.to_dict(), "is_dicom": self.is_dicom, "legacy": self.legacy,
            "policy": self.policy.to_dict() if self.policy is not None else None,
        }

    def _failure(self) -> DicomSecError:
        exc = self.inner._failure()
        exc.path = exc.path or self.path
        return exc


@dataclass(frozen=True, slots=True, eq=False)
class SecureFileInfo(Report, dict[str, Any]):
    """What :func:`~dicomsec.securefile.inspect` sees in a file without any key.

    ``kind`` is ``"dicom-part10"`` (a plain file: only ``path`` and ``size`` are set) or
    ``"secure-dicom-file"``; then the outer CMS structure follows. ``recipients`` describes each
    RecipientInfo (``kind`` plus the identifiers and algorithms of that kind). Nothing is
    decrypted or verified: ``ok`` only says the file was recognised.

    Compatibility: ``inspect()`` returned a dict before the report protocol, so this report is
    also a read-only dict whose items are ``to_dict()`` (``info["type"]``, ``json.dumps(info)``
    keep working and print exactly ``to_dict()``). Equality is the dict's.
    """

    schema: ClassVar[str] = "dicomsec.securefile.info/1"

    path: str
    kind: Literal["dicom-part10", "secure-dicom-file"]
    size: int
    outer: str | None = None
    version: int | None = None
    encoding: Literal["der", "ber"] | None = None
    content_type: str | None = None
    cipher: str | None = None
    icv_len: int | None = None
    authenticated_attributes: bool = False
    recipients: tuple[Mapping[str, Any], ...] = ()
    originator_info: bool = False
    unprotected_attributes: bool = False

    def __post_init__(self) -> None:
        dict.update(self, self.to_dict())

    @property
    def is_secure(self) -> bool:
        """The file is a Secure DICOM File (CMS), not a plain Part 10 file."""
        return self.kind == "secure-dicom-file"

    @property
    def ok(self) -> bool:
        return True

    def summary(self) -> str:
        if not self.is_secure:
            return f"PLAIN file={self.path} size={self.size}"
        return (f"SECURE file={self.path} outer={self.outer} version={self.version} "
                f"encoding={self.encoding} cipher={self.cipher} inner={self.content_type} "
                f"recipients={','.join(str(r.get('kind')) for r in self.recipients)}")

    def _content(self) -> dict[str, Any]:
        head: dict[str, Any] = {"file": self.path, "type": self.kind, "size": self.size}
        if not self.is_secure:
            return head
        return {
            **head,
            "outer": self.outer,
            "version": self.version,
            "encoding": self.encoding,
            "content_type": self.content_type,
            "cipher": self.cipher,
            "icv_len": self.icv_len,
            "authenticated_attributes": self.authenticated_attributes,
            "recipients": [dict(r) for r in self.recipients],
            "originator_info": self.originator_info,
            "unprotected_attributes": self.unprotected_attributes,
        }

    # read-only: the dict view is derived from the fields and never changes

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise dataclasses.FrozenInstanceError("SecureFileInfo is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self)))
